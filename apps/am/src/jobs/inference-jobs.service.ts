import {
  InferenceJobSpec,
  inferenceJobConsumer,
  inferenceJobSpecSchema,
  isStreamInput,
  JobSpec,
  JobState,
  ModelVersion,
  parseInput,
  RoleState,
  Subjects,
  ValidationError,
} from '@dln/contracts';
import {
  inferenceJobSpecOf,
  PreparedExamples,
  RoleKind,
  RoleRecord,
  transitionJob,
} from '@dln/jobs';
import { isNotFound, jetStreamManagerOf, predictionsStreamOrCreate } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import {
  deleteInferenceConsumer,
  ensureInferenceConsumer,
  inferenceAckPendingFor,
  InferenceInputStream,
  inferenceInputOf,
} from '@dln/ps-wire';
import { Objm } from '@nats-io/obj';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ActiveJob } from './active-job';
import { FeatureClient } from './feature-client';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JOBS_SETTINGS, LAYOUT_PLANNER } from './jobs.tokens';
import type { JobsSettings, LayoutPlanner } from './jobs.tokens';
import { ModelRegistryService } from './model-registry.service';

function refuse(path: string, message: string): never {
  throw new ValidationError(`invalid inference job: ${message}`, [{ path, message }]);
}

/**
 * The AM side of inference jobs (`mode: 'inference'`): resolves a submitted spec against the
 * model catalogue (the version, or the model's default, recorded on the job; its artifact still
 * stored; the model spec and settings of the job that trained it) and the feature service (the
 * input is the materialized version the model was trained on, or the raw stream of that
 * version's source), creates the job's shared consumer and the model's predictions stream,
 * removes the consumer once the job is final, and completes the job when every worker drained a
 * bounded input (a raw stream runs until cancelled).
 */
@Injectable()
export class InferenceJobs {
  private readonly logger = new Logger(InferenceJobs.name);

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly models: ModelRegistryService,
    private readonly features: FeatureClient,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
    @Inject(LAYOUT_PLANNER) private readonly planLayout: LayoutPlanner,
  ) {
    this.ledger.onFinal((job) => {
      const input = this.inputOf(job.spec);
      if (!input) return;
      // After the roles' stop grace: a worker still fetching would otherwise report a failure.
      setTimeout(() => void this.release(job.id, input), this.settings.stopGraceMs).unref();
    });
  }

  /** A submitted inference spec, resolved into the stored JobSpec and what its roles need. */
  async resolve(body: unknown): Promise<{ spec: JobSpec; prepared: PreparedExamples }> {
    const input = parseInput(inferenceJobSpecSchema, body, 'inference job spec');
    const version = await this.version(input);
    const trainedBy = await this.ledger.find(version.jobId).catch(() => undefined);
    if (!trainedBy)
      refuse(
        'inference.version',
        `job ${version.jobId} that trained version ${version.version} of model "${version.model}" is unknown (its model spec is needed)`,
      );
    if (trainedBy.spec.mode !== 'batch')
      refuse(
        'inference.version',
        `version ${version.version} of model "${version.model}" was exported by a ${trainedBy.spec.mode} job; only versions of batch jobs (a materialized pipeline version) are scored by inference jobs`,
      );
    const wanted = input.inference.input;
    const stream = isStreamInput(wanted);
    if (!stream && wanted.pipeline !== version.pipeline)
      refuse(
        'inference.input.pipeline',
        `version ${version.version} of model "${version.model}" was trained on pipeline "${version.pipeline}", not "${wanted.pipeline}"`,
      );
    if (!stream && wanted.version !== undefined && wanted.version !== version.pipelineVersion)
      refuse(
        'inference.input.version',
        `version ${version.version} of model "${version.model}" encodes records with version ${version.pipelineVersion} of pipeline "${version.pipeline}", not ${wanted.version}`,
      );
    await this.checkArtifact(version);
    const described = await this.features.describe(version.pipeline, version.pipelineVersion);
    const source = described.snapshot?.spec.source;
    if (!source)
      refuse('inference.input', `pipeline "${described.pipeline}" does not name its source`);
    if (stream && wanted.source !== source)
      refuse(
        'inference.input.source',
        `version ${version.version} of model "${version.model}" encodes records of source "${source}", not "${wanted.source}"`,
      );
    if (!stream && described.materialization.status !== 'done')
      refuse(
        'inference.input',
        `version ${described.version} of pipeline "${described.pipeline}" is not materialized (status ${described.materialization.status})`,
      );
    const spec = inferenceJobSpecOf(input, {
      version: version.version,
      pipeline: version.pipeline,
      pipelineVersion: version.pipelineVersion,
      trainedBy: trainedBy.spec,
    });
    const layout = await this.planLayout(
      spec.model,
      described.outputSchema,
      spec.cluster.ps,
      spec.training.seed,
    );
    const prepared: PreparedExamples = {
      pipeline: described.pipeline,
      version: described.version,
      outputSchema: described.outputSchema,
      // A raw stream has no counts: it is scored until the job is cancelled.
      trainCount: stream ? 0 : described.materialization.counts.train,
      validationCount: stream ? 0 : described.materialization.counts.validation,
      layout,
      inference: { objects: version.objects, source },
    };
    return { spec, prepared };
  }

  /** Where an inference job reads (undefined for other jobs). */
  private inputOf(spec: JobSpec): InferenceInputStream | undefined {
    if (spec.mode !== 'inference' || !spec.inference || !('version' in spec.examples))
      return undefined;
    return inferenceInputOf(this.subjects, spec.inference.input, spec.examples);
  }

  /** The job's consumer on its input, and the model's predictions stream when there is none. */
  async prepareOutput(jobId: string, spec: JobSpec): Promise<void> {
    const input = this.inputOf(spec);
    if (!input || !spec.inference) return;
    const jsm = await jetStreamManagerOf(this.nats);
    await jsm.streams.info(input.stream).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
      refuse('inference.input', `the input's stream ${input.stream} does not exist`);
    });
    await ensureInferenceConsumer(this.nats, {
      input,
      consumer: inferenceJobConsumer(jobId),
      settings: spec.inference,
      maxAckPending: inferenceAckPendingFor(spec.cluster.workers, spec.inference.batchSize),
    });
    await predictionsStreamOrCreate(this.nats, this.subjects, spec.inference.model);
  }

  /** Removes the consumer of a job that ended. */
  async release(jobId: string, input: InferenceInputStream): Promise<void> {
    try {
      await deleteInferenceConsumer(this.nats, input, inferenceJobConsumer(jobId));
      this.logger.log({ msg: 'inference job consumer deleted', jobId });
    } catch (error) {
      this.logger.warn({
        msg: 'could not delete an inference consumer',
        jobId,
        error: String(error),
      });
    }
  }

  /**
   * Every current worker has drained the input (the caller marked this one DONE): the ps shards
   * are stopped and the job SUCCEEDS.
   */
  maybeComplete(job: ActiveJob): RoleToStop[] {
    if (job.state !== JobState.Running && job.state !== JobState.Recovering) return [];
    const workers = job.current().filter((role: RoleRecord) => role.kind === RoleKind.Worker);
    if (!workers.every((role) => role.state === RoleState.Done)) return [];
    if (job.state === JobState.Recovering)
      job.record(transitionJob(job, JobState.Running, 'every worker finished', this.ledger.now()));
    const { model, version } = job.spec.inference ?? {};
    return this.control.end(
      job,
      JobState.Succeeded,
      `scored ${job.progressSummary().examplesSeen} records with model ${model} version ${version}`,
    );
  }

  private async version(input: InferenceJobSpec): Promise<ModelVersion> {
    const { model, version } = input.inference;
    const versions = await this.models.versions(model).catch(() => [] as ModelVersion[]);
    if (versions.length === 0)
      refuse('inference.model', `model "${model}" has no catalogued version`);
    if (version === undefined) {
      const fallback = versions.find((entry) => entry.isDefault);
      if (!fallback) refuse('inference.version', `model "${model}" has no default version`);
      return fallback;
    }
    const found = versions.find((entry) => entry.version === version);
    if (found) return found;
    const latest = Math.max(...versions.map((entry) => entry.version));
    if (version < latest)
      refuse(
        'inference.version',
        `version ${version} of model "${model}" was retired (catalogued: ${versions.map((v) => v.version).join(', ')})`,
      );
    return refuse(
      'inference.version',
      `model "${model}" has no version ${version} (latest ${latest})`,
    );
  }

  /** Every blob of the version's artifact must still be in the Object Store. */
  private async checkArtifact(version: ModelVersion): Promise<void> {
    const store = await new Objm(this.nats).open(this.subjects.bucket('models')).catch(() => null);
    for (const name of version.objects) {
      const info = store
        ? await store.info(name).catch((error: unknown) => {
            if (isNotFound(error)) return null;
            throw error;
          })
        : null;
      if (!info || info.deleted)
        refuse(
          'inference.version',
          `the artifact of version ${version.version} of model "${version.model}" is retired from the Object Store (${name} is gone)`,
        );
    }
  }
}
