import {
  ConflictError,
  DlnError,
  ErrorCode,
  JobState,
  JobView,
  NodeStatus,
  RoleState,
} from '@dln/contracts';
import { isLiveRole, retireRole, RoleRecord, tokenOf, transitionJob } from '@dln/jobs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { NodeCommander } from '../nodes/node-commander';
import { NodeRegistryService } from '../nodes/node-registry.service';
import { ActiveJob } from './active-job';
import { GateWaiters } from './gate-waiters';
import { JobLedger } from './job-ledger';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/** A role whose process must be told to stop, with where it runs. */
export interface RoleToStop {
  jobId: string;
  role: RoleRecord;
  nodeId: string;
}

/**
 * Ending jobs and stopping roles, shared by cancel, failures and completion. `end` runs under
 * the job's lock and only records; `stop` sends the stop commands after the commit.
 */
@Injectable()
export class JobControl {
  private readonly logger = new Logger(JobControl.name);
  readonly gates = new GateWaiters();

  constructor(
    private readonly ledger: JobLedger,
    private readonly commander: NodeCommander,
    private readonly registry: NodeRegistryService,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {}

  /** Moves the job to a final state, retires its roles and returns those to stop. */
  end(job: ActiveJob, to: JobState, reason: string): RoleToStop[] {
    const at = this.ledger.now();
    const stops: RoleToStop[] = [];
    for (const role of job.current()) {
      const live = isLiveRole(role);
      // A worker placed but not yet assigned holds a reserved slot.
      if (role.state === RoleState.Pending && role.nodeId !== null)
        this.registry.nodes.release(role.nodeId, tokenOf(job.id, role));
      const event = retireRole(role, `job ${to.toLowerCase()}: ${reason}`, at);
      if (!event) continue;
      job.record(event);
      job.touch(role);
      if (live && role.nodeId !== null)
        stops.push({ jobId: job.id, role: { ...role }, nodeId: role.nodeId });
    }
    job.record(transitionJob(job, to, reason, at));
    this.gates.release(job.id, `job ${to}: ${reason}`);
    return stops;
  }

  /**
   * Stops role processes, retrying while the node is ALIVE and has not acknowledged (a node that
   * says the role is not there has acknowledged). A node that never answers gets the slot
   * released anyway; should the process still run, its heartbeats show it and the orphan sweep
   * (JobScheduler) stops it.
   */
  async stop(stops: readonly RoleToStop[], reason: string): Promise<void> {
    await Promise.all(stops.map((stop) => this.stopOne(stop, reason)));
  }

  private async stopOne({ jobId, role, nodeId }: RoleToStop, reason: string): Promise<void> {
    const token = tokenOf(jobId, role);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.commander.stop(nodeId, {
          token,
          graceMs: this.settings.stopGraceMs,
          reason: reason.slice(0, 500),
        });
        return;
      } catch (error) {
        const gone = error instanceof DlnError && error.code === ErrorCode.NotFound;
        const node = this.registry.nodes.get(nodeId);
        const retry =
          !gone && node?.status === NodeStatus.Alive && attempt < this.settings.stopAttempts;
        if (!retry) {
          this.registry.nodes.release(nodeId, token);
          if (!gone)
            this.logger.warn({
              msg: 'could not stop a role',
              ...token,
              nodeId,
              error: String(error),
            });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, this.settings.stopRetryMs * attempt));
      }
    }
  }

  /** Stops in the background (callers that must not wait, such as NATS handlers). */
  stopLater(stops: readonly RoleToStop[], reason: string): void {
    if (stops.length > 0) void this.stop(stops, reason);
  }

  /** POST /v1/jobs/{id}/cancel: allowed from every state that is not final. */
  async cancel(id: string): Promise<JobView> {
    const result = await this.ledger.withJob(id, (job) =>
      this.end(job, JobState.Cancelled, 'cancelled by request'),
    );
    if (!result) {
      const job = await this.ledger.find(id);
      throw new ConflictError(`job "${id}" is ${job.state} already`);
    }
    await this.stop(result.value, 'job cancelled');
    return result.job.view();
  }
}
