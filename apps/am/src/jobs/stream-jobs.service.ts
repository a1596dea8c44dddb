import { JobSpec, JobState, RoleReport, streamJobConsumer, Subjects } from '@dln/contracts';
import {
  decideStreamVersion,
  promotionPolicyOf,
  RoleKind,
  RoleRecord,
  streamExportKey,
  streamMaxAckPending,
} from '@dln/jobs';
import type { NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { deleteStreamJobConsumer, ensureStreamJobConsumer } from '@dln/ps-wire';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ActiveJob } from './active-job';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';
import { ModelRegistryService } from './model-registry.service';

type Exported = Extract<RoleReport, { type: 'exported' }>;

/** Exports remembered per job to recognise a re-sent report (more than any outbox re-sends). */
const REMEMBERED_EXPORTS = 256;

/**
 * The AM side of stream jobs (`mode: 'stream'`): the job's shared durable consumer (created at
 * submit, removed once the job is final, whatever ended it), and the many exports of a running
 * job: each is catalogued once (by `streamExportKey`), judged by `decideStreamVersion` (the NaN
 * guard and the promotion rule on the progressive metric), announced, and the job's versions
 * beyond its last K are retired.
 */
@Injectable()
export class StreamJobs {
  private readonly logger = new Logger(StreamJobs.name);
  private readonly seenExports = new Map<string, Set<string>>();

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly models: ModelRegistryService,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {
    this.ledger.onFinal((job) => {
      if (job.spec.mode !== 'stream') return;
      this.seenExports.delete(job.id);
      // After the roles' stop grace: a worker still fetching when its consumer vanishes would
      // report a failure instead of ending quietly on its stop.
      const pipeline = job.spec.examples.pipeline;
      setTimeout(() => void this.release(job.id, pipeline), this.settings.stopGraceMs).unref();
    });
  }

  /** Creates the job's consumer (kept when it exists: an AM restart, a resubmitted id). */
  async ensureConsumer(jobId: string, spec: JobSpec): Promise<void> {
    if (spec.mode !== 'stream' || !spec.stream) return;
    await ensureStreamJobConsumer(this.nats, this.subjects, {
      pipeline: spec.examples.pipeline,
      consumer: streamJobConsumer(jobId),
      settings: spec.stream,
      maxAckPending: streamMaxAckPending(spec),
    });
  }

  /** Removes the consumer of a job that ended (its unacknowledged examples go with it). */
  async release(jobId: string, pipeline: string): Promise<void> {
    try {
      await deleteStreamJobConsumer(this.nats, this.subjects, pipeline, streamJobConsumer(jobId));
      this.logger.log({ msg: 'stream job consumer deleted', jobId, pipeline });
    } catch (error) {
      this.logger.warn({
        msg: 'could not delete a stream job consumer',
        jobId,
        pipeline,
        error: String(error),
      });
    }
  }

  private async catalogued(job: ActiveJob, objects: readonly string[]): Promise<boolean> {
    const versions = await this.models.versions(job.spec.output.model).catch(() => []);
    return versions.some(
      (version) => version.jobId === job.id && version.objects[0] === objects[0],
    );
  }

  /**
   * Worker 0's export of a running stream job (under the job's lock). A refused export (not
   * finite: the NaN guard) fails the job as in batch: its parameters will not recover.
   */
  async exported(job: ActiveJob, role: RoleRecord, report: Exported): Promise<RoleToStop[]> {
    if (role.kind !== RoleKind.Worker || role.index !== 0 || !job.prepared || !job.spec.stream)
      return [];
    const key = streamExportKey(report);
    if (key === null) return [];
    const seen = this.seenExports.get(job.id) ?? new Set<string>();
    this.seenExports.set(job.id, seen);
    if (seen.has(key)) return [];
    seen.add(key);
    if (seen.size > REMEMBERED_EXPORTS) seen.delete(seen.values().next().value as string);
    // Across an AM restart (the role re-sends until answered): the same blobs catalogued already.
    if (report.finite && (await this.catalogued(job, report.objects))) return [];

    const model = job.spec.output.model;
    const policy = promotionPolicyOf(job.spec);
    const { decision, version } = await this.models.record({
      model,
      jobId: job.id,
      pipeline: job.prepared.pipeline,
      pipelineVersion: report.stream?.pipelineVersion ?? job.prepared.version,
      objects: report.objects,
      metrics: report.metrics,
      finite: report.finite,
      policy,
      decide: (existing) => decideStreamVersion(existing, report, policy),
    });
    const retired = version
      ? await this.models.retireJobVersions(model, job.id, job.spec.stream.keepVersions)
      : [];
    const now = this.ledger.now();
    job.record({
      type: 'model-version',
      from: null,
      to: null,
      role: role.role,
      detail: {
        model,
        accepted: decision.accepted,
        version: version?.version ?? null,
        isDefault: version?.isDefault ?? false,
        reason: decision.reason,
        step: report.stream?.step ?? null,
        snapshotVersion: report.stream?.pipelineVersion ?? null,
        retired,
      },
      at: now,
    });
    if (!version)
      return this.control.end(job, JobState.Failed, `model not exported: ${decision.reason}`);
    job.modelVersion = version.version;
    job.dirtyRow = true;
    return [];
  }
}
