import {
  DlnError,
  EpochGateReply,
  EpochGateRequest,
  ErrorCode,
  FencingToken,
  JobState,
  RoleExitReason,
  RoleExitReport,
  RoleReport,
  RoleState,
  UnavailableError,
} from '@dln/contracts';
import {
  isLiveRole,
  matchIncarnation,
  promotionPolicyOf,
  RoleKind,
  RoleRecord,
  transitionJob,
  transitionRole,
} from '@dln/jobs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NodeRegistryService } from '../nodes/node-registry.service';
import { ActiveJob } from './active-job';
import { CheckpointReports } from './checkpoint-reports';
import { FailoverService } from './failover.service';
import { InferenceJobs } from './inference-jobs.service';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';
import { ModelRegistryService } from './model-registry.service';
import { StreamJobs } from './stream-jobs.service';

type Outcome = RoleToStop[];

/**
 * Everything roles tell the AM: reports (progress, evaluations, checkpoints, the export, the end
 * of a role), role exits from the nodes and the epoch gate. A report from a superseded
 * incarnation (older generation or attempt) is ignored; the gate refuses it with FENCED.
 */
@Injectable()
export class JobReports {
  private readonly logger = new Logger(JobReports.name);

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly models: ModelRegistryService,
    private readonly checkpoints: CheckpointReports,
    private readonly registry: NodeRegistryService,
    private readonly failover: FailoverService,
    private readonly streams: StreamJobs,
    private readonly inference: InferenceJobs,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {
    // In the constructor: exits can arrive before the init hooks run (they wait for the reload).
    this.registry.onRoleExit((report) => this.roleExited(report));
    this.registry.onRolesLost((nodeId, tokens, reason) => this.rolesLost(nodeId, tokens, reason));
  }

  async report(report: RoleReport): Promise<void> {
    const result = await this.ledger.withJob(report.token.jobId, async (job) => {
      const role = this.currentRole(job, report.token);
      if (!role) return [];
      return this.apply(job, role, report);
    });
    if (!result)
      this.logger.debug({
        msg: 'report for a job that is not running',
        jobId: report.token.jobId,
        type: report.type,
      });
    else this.control.stopLater(result.value, result.job.reason ?? 'job ended');
  }

  /** Holds a worker's request until every worker reached the epoch's end and worker 0 evaluated it. */
  async gate(request: EpochGateRequest): Promise<EpochGateReply> {
    const result = await this.ledger.withJob(request.token.jobId, (job) => {
      const role = this.currentRole(job, request.token);
      if (!role)
        throw new DlnError(
          ErrorCode.Fenced,
          `${request.token.role} of job ${job.id} is superseded (generation ${request.token.generation}, attempt ${request.token.attempt})`,
        );
      if (role.kind !== RoleKind.Worker)
        throw new DlnError(ErrorCode.InvalidRequest, 'only workers pass the epoch gate');
      const verdict = job.gate.arrive(role.index, request.epoch);
      if (verdict) this.control.gates.settle(job.id, request.epoch, verdict);
      // Wrapped: a bare promise would be awaited under the job's lock.
      return {
        reply: verdict ? Promise.resolve(verdict) : this.control.gates.wait(job.id, request.epoch),
      };
    });
    if (!result) {
      const job = await this.ledger.find(request.token.jobId);
      if (!job.final) throw new UnavailableError(`job ${job.id} is not loaded yet; ask again`);
      return { proceed: false, reason: `job is ${job.state}` };
    }
    return result.value.reply;
  }

  private async apply(job: ActiveJob, role: RoleRecord, report: RoleReport): Promise<Outcome> {
    const now = this.ledger.now();
    switch (report.type) {
      case 'started':
        this.markRunning(job, role);
        return [];
      case 'progress': {
        if (role.kind !== RoleKind.Worker) return [];
        this.markRunning(job, role);
        job.progress.report(role.index, report);
        if (now - job.lastProgressEventAt >= this.settings.progressEventMs) {
          job.lastProgressEventAt = now;
          job.record({
            type: 'progress',
            from: null,
            to: null,
            role: null,
            detail: { ...job.progress.summary() },
            at: now,
          });
        }
        return [];
      }
      case 'evaluation': {
        if (role.kind !== RoleKind.Worker || role.index !== 0) return [];
        if (!job.validation.some((entry) => entry.epoch === report.epoch)) {
          job.validation.push({ epoch: report.epoch, metrics: report.metrics });
          job.validation.sort((a, b) => a.epoch - b.epoch);
          job.record({
            type: 'evaluation',
            from: null,
            to: null,
            role: role.role,
            detail: { epoch: report.epoch, metrics: report.metrics },
            at: now,
          });
        }
        const verdict = job.gate.evaluation(report.epoch, report.metrics);
        if (verdict) this.control.gates.settle(job.id, report.epoch, verdict);
        return [];
      }
      case 'checkpoint':
        if (role.kind !== RoleKind.Ps || report.shard !== role.index) return [];
        await this.checkpoints.shardStored(job, report);
        return [];
      case 'exported':
        return this.exported(job, role, report);
      case 'finished':
        return this.finished(job, role, 'finished');
      case 'failed':
        return this.failRole(job, role, RoleState.Failed, report.reason, report.retryable);
    }
  }

  private async exported(
    job: ActiveJob,
    role: RoleRecord,
    report: Extract<RoleReport, { type: 'exported' }>,
  ): Promise<Outcome> {
    if (job.spec.mode === 'stream') return this.streams.exported(job, role, report);
    if (
      role.kind !== RoleKind.Worker ||
      role.index !== 0 ||
      job.modelVersion !== null ||
      !job.prepared
    )
      return [];
    const { decision, version } = await this.models.record({
      model: job.spec.output.model,
      jobId: job.id,
      pipeline: job.prepared.pipeline,
      pipelineVersion: job.prepared.version,
      objects: report.objects,
      metrics: report.metrics,
      finite: report.finite,
      policy: promotionPolicyOf(job.spec),
    });
    const now = this.ledger.now();
    job.record({
      type: 'model-version',
      from: null,
      to: null,
      role: role.role,
      detail: {
        model: job.spec.output.model,
        accepted: decision.accepted,
        version: version?.version ?? null,
        isDefault: version?.isDefault ?? false,
        reason: decision.reason,
      },
      at: now,
    });
    if (!version)
      return this.control.end(job, JobState.Failed, `model not exported: ${decision.reason}`);
    job.modelVersion = version.version;
    return this.maybeComplete(job);
  }

  /**
   * A role says it is done (report or clean exit). A worker is done only after the gate's final
   * verdict, and a ps only when the AM stops it: anything earlier means it was cut short (its
   * node stopped it): it is lost, and failover replaces it.
   */
  private async finished(job: ActiveJob, role: RoleRecord, how: string): Promise<Outcome> {
    if (!isLiveRole(role)) return [];
    // An inference worker is done once the job's input is drained (no epochs, no gate).
    const done = job.spec.mode === 'inference' || job.gate.stopVerdict();
    if (role.kind === RoleKind.Ps || !done) {
      return this.failRole(job, role, RoleState.Lost, `ended before the job finished (${how})`);
    }
    this.markRunning(job, role);
    this.move(job, role, RoleState.Done, how);
    job.progress.idle(role.index);
    if (job.spec.mode === 'inference') return this.inference.maybeComplete(job);
    return this.maybeComplete(job);
  }

  /** Every worker done and the export recorded: stop the ps roles, SUCCEEDED. */
  private maybeComplete(job: ActiveJob): Outcome {
    if (job.state !== JobState.Running && job.state !== JobState.Recovering) return [];
    const workers = job.current().filter((role) => role.kind === RoleKind.Worker);
    if (!workers.every((role) => role.state === RoleState.Done)) return [];
    if (job.modelVersion !== null) {
      // A ps being replaced when the last worker finished has nothing left to serve.
      if (job.state === JobState.Recovering)
        job.record(
          transitionJob(job, JobState.Running, 'every worker finished', this.ledger.now()),
        );
      return this.control.end(
        job,
        JobState.Succeeded,
        `model ${job.spec.output.model} version ${job.modelVersion}`,
      );
    }
    // The export report may still be on its way (it travels apart from the exit). The deadline
    // is persisted, so an AM restart in between still fails the job (JobScheduler checks it).
    job.failover.exportDeadline ??= this.ledger.now() + this.settings.exportGraceMs;
    job.dirtyRow = true;
    return [];
  }

  /** Fails a job whose export did not arrive by its deadline (the scheduler's pass calls this). */
  async exportOverdue(jobId: string): Promise<void> {
    const result = await this.ledger.withJob(jobId, (job) => {
      const deadline = job.failover.exportDeadline;
      if (deadline === null || this.ledger.now() < deadline) return [];
      job.failover.exportDeadline = null;
      job.dirtyRow = true;
      if (job.modelVersion !== null) return [];
      const workers = job.current().filter((role) => role.kind === RoleKind.Worker);
      if (!workers.every((role) => role.state === RoleState.Done)) return [];
      return this.control.end(
        job,
        JobState.Failed,
        'every worker finished but no model was exported',
      );
    });
    if (result) this.control.stopLater(result.value, 'job failed');
  }

  /** A node restarted (new incarnation): the roles its previous process ran are gone. */
  private async rolesLost(
    nodeId: string,
    tokens: readonly FencingToken[],
    reason: string,
  ): Promise<void> {
    for (const token of tokens) {
      const result = await this.ledger.withJob(token.jobId, (job) => {
        const role = this.currentRole(job, token);
        if (!role || !isLiveRole(role) || role.nodeId !== nodeId) return [];
        return this.failRole(job, role, RoleState.Lost, reason);
      });
      if (result) this.control.stopLater(result.value, result.job.reason ?? 'job failed');
    }
  }

  /** A live role found lost by the scheduler (node LOST, missing from its heartbeats). */
  async roleLost(jobId: string, role: RoleRecord, reason: string): Promise<void> {
    const result = await this.ledger.withJob(jobId, (job) => {
      const current = this.currentRole(job, { jobId, ...role });
      if (!current || !isLiveRole(current) || current.nodeId !== role.nodeId) return [];
      return this.failRole(job, current, RoleState.Lost, reason);
    });
    if (result) await this.control.stop(result.value, result.job.reason ?? 'failover');
  }

  /** A role process ended (its node's report). */
  private async roleExited(report: RoleExitReport): Promise<void> {
    const { exit } = report;
    const result = await this.ledger.withJob(exit.token.jobId, (job) => {
      const role = this.currentRole(job, exit.token);
      if (!role || !isLiveRole(role)) return [];
      const detail = `${exit.reason}${exit.code !== null ? ` (code ${exit.code})` : ''}${exit.signal ? ` (signal ${exit.signal})` : ''}${exit.message ? `: ${exit.message}` : ''}`;
      switch (exit.reason) {
        case RoleExitReason.Completed:
          return this.finished(job, role, `process ${detail}`);
        case RoleExitReason.Stopped:
          return this.failRole(
            job,
            role,
            RoleState.Lost,
            `stopped by node ${report.nodeId}: ${detail}`,
          );
        default:
          return this.failRole(job, role, RoleState.Failed, `process ${detail}`);
      }
    });
    if (result) this.control.stopLater(result.value, result.job.reason ?? 'job failed');
  }

  /**
   * A failed or lost role: replaced, the job rolled back, or the job failed, as its failover
   * policy says (a failure that is not retryable fails it at once).
   */
  private failRole(
    job: ActiveJob,
    role: RoleRecord,
    to: typeof RoleState.Failed | typeof RoleState.Lost,
    reason: string,
    retryable = true,
  ): Promise<Outcome> {
    if (!isLiveRole(role) || job.final) return Promise.resolve([]);
    return this.failover.roleFailed(job, role, { to, reason, retryable });
  }

  private markRunning(job: ActiveJob, role: RoleRecord): void {
    if (role.state === RoleState.Assigned) this.move(job, role, RoleState.Running, null);
    this.failover.maybeRecovered(job);
  }

  private move(job: ActiveJob, role: RoleRecord, to: RoleState, reason: string | null): void {
    job.record(transitionRole(role, to, reason, this.ledger.now()));
    job.touch(role);
  }

  /** The role's current incarnation when the token is its own; undefined (and logged) otherwise. */
  private currentRole(job: ActiveJob, token: FencingToken): RoleRecord | undefined {
    const match = matchIncarnation(job.id, job.roles, token);
    if (match.verdict === 'current') return match.role;
    if (match.verdict === 'unknown') {
      this.logger.warn({ msg: 'message from an unknown role', ...token });
    } else {
      this.logger.debug({
        msg: `ignored a ${match.verdict} incarnation`,
        ...token,
        current: { generation: match.current.generation, attempt: match.current.attempt },
      });
    }
    return undefined;
  }
}
