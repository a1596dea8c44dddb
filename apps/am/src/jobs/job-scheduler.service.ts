import { JobState, NodeStatus, RoleState, Subjects } from '@dln/contracts';
import {
  buildRoleConfig,
  entryOf,
  infoEvent,
  initialRoles,
  isLiveRole,
  NodeCapacity,
  placeRoles,
  RoleKind,
  RoleRecord,
  tokenOf,
  transitionJob,
  transitionRole,
} from '@dln/jobs';
import { SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { NodeCommander } from '../nodes/node-commander';
import { NodeRegistryService } from '../nodes/node-registry.service';
import { ActiveJob } from './active-job';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JobSubmission } from './job-submission.service';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/**
 * The scheduling loop: places SCHEDULING jobs on free slots (waiting with a reason, FAILED after
 * the spec's timeout), assigns their roles by node command, and watches the nodes of running
 * roles (a lost node fails the job until failover, issue 4, replaces the role). On start it
 * reloads every non-final job.
 */
@Injectable()
export class JobScheduler implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JobScheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly submission: JobSubmission,
    private readonly registry: NodeRegistryService,
    private readonly commander: NodeCommander,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {}

  async onModuleInit(): Promise<void> {
    const jobs = await this.ledger.reload();
    for (const job of jobs) {
      // Slots of roles placed before the restart stay taken until the roles end.
      for (const role of job.current()) {
        if (isLiveRole(role) && role.nodeId !== null)
          this.registry.nodes.reserve(role.nodeId, tokenOf(job.id, role));
      }
      if (job.state === JobState.Preparing) void this.submission.prepare(job.id);
    }
    this.logger.log({ msg: 'jobs reloaded', count: jobs.length });
    this.timer = setInterval(() => void this.tick(), this.settings.schedulingIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
  }

  /** One pass over the active jobs; never overlaps with itself. */
  tick(): Promise<void> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    for (const job of this.ledger.active()) {
      try {
        if (job.state === JobState.Scheduling) await this.schedule(job.id);
        else if (job.state === JobState.Running) await this.watchNodes(job.id);
      } catch (error) {
        this.logger.error({ msg: 'scheduling pass failed', jobId: job.id, error: String(error) });
      }
    }
  }

  private async schedule(jobId: string): Promise<void> {
    const result = await this.ledger.withJob(jobId, (job) => this.place(job));
    if (result && result.value.length > 0)
      await this.control.stop(result.value, result.job.reason ?? 'placement undone');
  }

  /**
   * Two phases, so no worker pulls from a shard that is not serving yet: every role is placed at
   * once (all or nothing; ps roles are assigned, workers' slots reserved), then the workers are
   * assigned once every ps role reported `started`. The job is RUNNING when every role is.
   */
  private async place(job: ActiveJob): Promise<RoleToStop[]> {
    if (job.state !== JobState.Scheduling || !job.prepared) return [];
    const now = this.ledger.now();
    const waitedMs = now - (job.schedulingSince ?? now);
    if (waitedMs >= job.spec.scheduling.timeoutSeconds * 1000) {
      const why = job.reason ?? 'no placement';
      return this.control.end(
        job,
        JobState.Failed,
        `roles could not be placed within ${job.spec.scheduling.timeoutSeconds} s: ${why}`,
      );
    }
    if (job.current().length === 0) {
      for (const role of initialRoles(job.spec, job.generation)) this.addRole(job, role);
    }
    const unplaced = job
      .current()
      .filter((r) => r.state === RoleState.Pending && r.nodeId === null);
    if (unplaced.length > 0) {
      const placement = placeRoles(unplaced, this.capacity());
      if (!placement.placed) {
        this.wait(job, `waiting for slots: ${placement.reason}`, { waiting: placement.reason });
        return [];
      }
      const stops = await this.placeAll(job, unplaced, placement.assignments);
      if (stops !== undefined) return stops;
    }
    if (!job.current().every((r) => r.kind !== RoleKind.Ps || r.state === RoleState.Running)) {
      this.wait(job, 'waiting for the ps shards to start', null);
      return [];
    }
    for (const role of job
      .current()
      .filter((r) => r.state === RoleState.Pending && r.nodeId !== null)) {
      const failure = await this.assign(job, role);
      if (failure !== null) {
        this.retry(job, role, `assignment failed: ${failure}`);
        this.wait(job, `assignment failed, retrying: ${role.role} on ${role.nodeId}: ${failure}`, {
          assignmentFailed: [failure],
        });
      }
    }
    if (job.current().every(isLiveRole)) {
      job.lastWaitReason = null;
      job.record(transitionJob(job, JobState.Running, null, this.ledger.now()));
    }
    return [];
  }

  /** Assigns the ps roles and reserves the workers' slots; on a failure undoes all of it. */
  private async placeAll(
    job: ActiveJob,
    roles: readonly RoleRecord[],
    assignments: readonly { role: string; nodeId: string }[],
  ): Promise<RoleToStop[] | undefined> {
    const done: RoleRecord[] = [];
    let failure: string | null = null;
    for (const { role: name, nodeId } of assignments) {
      const role = roles.find((candidate) => candidate.role === name) as RoleRecord;
      role.nodeId = nodeId;
      job.touch(role);
      if (role.kind === RoleKind.Ps) {
        failure = await this.assign(job, role);
      } else if (!this.registry.nodes.reserve(nodeId, tokenOf(job.id, role))) {
        failure = `node ${nodeId} has no free slot any more`;
      }
      if (failure !== null) {
        failure = `${role.role} on ${nodeId}: ${failure}`;
        this.retry(job, role, `placement failed: ${failure}`);
        break;
      }
      done.push(role);
    }
    if (failure === null) return undefined;
    const stops: RoleToStop[] = [];
    for (const role of done) {
      if (isLiveRole(role))
        stops.push({ jobId: job.id, role: { ...role }, nodeId: role.nodeId as string });
      else this.registry.nodes.release(role.nodeId as string, tokenOf(job.id, role));
      this.retry(job, role, 'placement undone');
    }
    this.wait(job, `placement failed, retrying: ${failure}`, { assignmentFailed: [failure] });
    return stops;
  }

  /** Sends the assign command; the role is ASSIGNED, or the reason it is not is returned. */
  private async assign(job: ActiveJob, role: RoleRecord): Promise<string | null> {
    const nodeId = role.nodeId as string;
    const prepared = job.prepared as NonNullable<ActiveJob['prepared']>;
    try {
      await this.commander.assign(nodeId, {
        token: tokenOf(job.id, role),
        entry: entryOf(role.kind),
        config: buildRoleConfig(
          { jobId: job.id, subjectRoot: this.subjects.root, spec: job.spec, prepared },
          role,
        ),
      });
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    job.record(transitionRole(role, RoleState.Assigned, null, this.ledger.now()));
    job.touch(role);
    return null;
  }

  /** Supersedes an incarnation that could not be placed; a new attempt waits to be placed. */
  private retry(job: ActiveJob, role: RoleRecord, reason: string): void {
    job.record(transitionRole(role, RoleState.Superseded, reason, this.ledger.now()));
    job.touch(role);
    this.addRole(job, {
      ...role,
      attempt: role.attempt + 1,
      state: RoleState.Pending,
      nodeId: null,
      reason: null,
    });
  }

  /** Records why the job waits (an event only when the reason changes). */
  private wait(job: ActiveJob, reason: string, detail: Record<string, unknown> | null): void {
    if (reason !== job.lastWaitReason) {
      job.record(infoEvent(detail ?? { waiting: reason }, this.ledger.now()));
      job.lastWaitReason = reason;
    }
    job.reason = reason;
    job.dirtyRow = true;
  }

  /** A lost node takes its roles with it; until failover (issue 4) that fails the job. */
  private async watchNodes(jobId: string): Promise<void> {
    const result = await this.ledger.withJob(jobId, (job) => {
      for (const role of job.current()) {
        if (!isLiveRole(role) || role.nodeId === null) continue;
        const node = this.registry.nodes.get(role.nodeId);
        if (node && node.status === NodeStatus.Alive) continue;
        const reason = node ? `node ${role.nodeId} is lost` : `node ${role.nodeId} is unknown`;
        job.record(transitionRole(role, RoleState.Lost, reason, this.ledger.now()));
        job.touch(role);
        this.registry.nodes.release(role.nodeId, tokenOf(job.id, role));
        return this.control.end(job, JobState.Failed, `${role.role} lost: ${reason}`);
      }
      return [];
    });
    if (result && result.value.length > 0) await this.control.stop(result.value, 'job failed');
  }

  private capacity(): NodeCapacity[] {
    return this.registry.nodes
      .list()
      .filter((node) => node.status === NodeStatus.Alive)
      .map((node) => ({
        nodeId: node.registration.nodeId,
        kind: node.registration.kind,
        free: this.registry.nodes.slots(node.registration.nodeId)?.free ?? 0,
      }));
  }

  private addRole(job: ActiveJob, role: RoleRecord): void {
    job.roles.push(role);
    job.touch(role);
  }
}
