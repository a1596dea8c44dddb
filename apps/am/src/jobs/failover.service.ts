import { JobState, ResumePosition, RoleStart } from '@dln/contracts';
import {
  applyRoleFailure,
  CheckpointTracker,
  infoEvent,
  isRecovered,
  RoleFailure,
  RoleKind,
  RoleRecord,
  tokenOf,
  transitionJob,
} from '@dln/jobs';
import { Injectable, Logger } from '@nestjs/common';
import { NodeRegistryService } from '../nodes/node-registry.service';
import { ActiveJob } from './active-job';
import { CheckpointStore } from './checkpoint-store';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';

/**
 * The AM's side of failover: a lost or failed role is replaced (attempt + 1), or the job rolls
 * back under generation + 1, or the job fails with the reason, as the job's policy says
 * (`applyRoleFailure` of @dln/jobs). Runs under the job's lock; returns the processes to stop.
 */
@Injectable()
export class FailoverService {
  private readonly logger = new Logger(FailoverService.name);

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly registry: NodeRegistryService,
    private readonly objects: CheckpointStore,
  ) {}

  async roleFailed(job: ActiveJob, role: RoleRecord, failure: RoleFailure): Promise<RoleToStop[]> {
    if (job.final) return [];
    const now = this.ledger.now();
    const latest = (await this.tracker(job))?.latest() ?? null;
    const previousGeneration = job.generation;
    const outcome = applyRoleFailure(job, role, failure, now, latest?.manifest ?? null);
    for (const event of outcome.events) job.record(event);
    for (const record of outcome.changed) job.touch(record);
    for (const record of outcome.release)
      this.registry.nodes.release(record.nodeId as string, tokenOf(job.id, record));
    job.notices.push(...outcome.notices);
    job.dirtyRow = true;
    this.logger.warn({
      msg: 'role failed',
      ...tokenOf(job.id, role),
      reason: failure.reason,
      retryable: failure.retryable,
      decision: outcome.decision.action,
    });
    const { decision } = outcome;
    if (decision.action === 'fail-job')
      return this.control.end(job, JobState.Failed, decision.reason);
    // Replacements (and a rolled-back job) wait for placement in RECOVERING, with the same limit
    // on waiting as scheduling has.
    job.schedulingSince = now;
    job.lastWaitReason = null;
    if (decision.action === 'replace-role') {
      if (role.kind === RoleKind.Worker) job.progress.forget(role.index);
      else await this.recordAsyncShardLoss(job, role, latest?.manifest ?? null, now);
      return [];
    }
    // A new generation: everything after the checkpoint is redone by the new incarnations.
    job.progress.clear();
    const dropped = new Set(job.gate.rollback());
    job.validation = job.validation.filter((entry) => !dropped.has(entry.epoch));
    job.checkpoints = null;
    this.control.gates.release(
      job.id,
      `superseded by generation ${job.generation} (was ${previousGeneration})`,
    );
    return outcome.stop.map((record) => ({
      jobId: job.id,
      role: record,
      nodeId: record.nodeId as string,
    }));
  }

  /**
   * RECOVERING ends once every current role runs again (reported `started` or progress);
   * true when it ended now.
   */
  maybeRecovered(job: ActiveJob): boolean {
    if (job.state !== JobState.Recovering || !isRecovered(job.current())) return false;
    job.lastWaitReason = null;
    job.schedulingSince = null;
    job.record(transitionJob(job, JobState.Running, null, this.ledger.now()));
    return true;
  }

  /** How a role about to be assigned starts: the checkpoint to restore, a worker's position. */
  async startOf(
    job: ActiveJob,
    role: RoleRecord,
  ): Promise<{ restoreFrom: string | null; resume: ResumePosition | null }> {
    if (role.start === RoleStart.Fresh) return { restoreFrom: null, resume: null };
    if (role.start === RoleStart.Replacement && role.kind === RoleKind.Worker) {
      const known = job.progress.worker(role.index);
      return {
        restoreFrom: null,
        resume: known ? { epoch: known.epoch, step: known.step, examples: known.examples } : null,
      };
    }
    const latest = (await this.tracker(job))?.latest();
    return { restoreFrom: latest?.manifest ?? null, resume: null };
  }

  /** The job's checkpoints, loaded from SQL the first time (also after an AM restart). */
  private async tracker(job: ActiveJob): Promise<CheckpointTracker | null> {
    if (!job.prepared) return null;
    job.checkpoints ??= new CheckpointTracker(
      {
        jobId: job.id,
        generation: job.generation,
        shards: job.spec.cluster.ps,
        keep: job.spec.training.keepCheckpoints,
      },
      await this.ledger.store.checkpoints(job.id),
    );
    return job.checkpoints;
  }

  /**
   * Async mode: a shard alone restores from the checkpoint; the updates it applied since are
   * lost. The AM estimates them from the workers' steps since the checkpoint's positions.
   */
  private async recordAsyncShardLoss(
    job: ActiveJob,
    role: RoleRecord,
    manifest: string | null,
    now: number,
  ): Promise<void> {
    const stepsNow = job.progress.positions().reduce((sum, position) => sum + position.step, 0);
    let stepsThen = 0;
    let checkpointStep: number | null = null;
    if (manifest !== null) {
      try {
        const stored = await this.objects.getManifest(manifest);
        stepsThen = stored?.workerPositions.reduce((sum, p) => sum + p.step, 0) ?? 0;
        checkpointStep = stored?.step ?? null;
      } catch (error) {
        this.logger.warn({ msg: 'could not read a manifest', manifest, error: String(error) });
      }
    }
    job.record(
      infoEvent(
        {
          shardRestored: role.index,
          restoreFrom: manifest,
          checkpointStep,
          lostUpdatesEstimate: Math.max(0, stepsNow - stepsThen),
        },
        now,
        role.role,
      ),
    );
  }
}
