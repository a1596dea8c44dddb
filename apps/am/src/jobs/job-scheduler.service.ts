import { JobState, NodeStatus, RoleState, Subjects } from '@dln/contracts';
import {
  buildRoleConfig,
  entryOf,
  infoEvent,
  initialRoles,
  isLiveRole,
  NodeCapacity,
  placeRoles,
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

  private async place(job: ActiveJob): Promise<RoleToStop[]> {
    if (job.state !== JobState.Scheduling || !job.prepared) return [];
    const now = this.ledger.now();
    const timeoutMs = job.spec.scheduling.timeoutSeconds * 1000;
    const waitedMs = now - (job.schedulingSince ?? now);
    if (waitedMs >= timeoutMs) {
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
    const pending = job.current().filter((role) => role.state === RoleState.Pending);
    const placement = placeRoles(pending, this.capacity());
    if (!placement.placed) {
      const reason = `waiting for slots: ${placement.reason}`;
      if (reason !== job.lastWaitReason) {
        job.record(infoEvent({ waiting: placement.reason }, now));
        job.lastWaitReason = reason;
      }
      job.reason = reason;
      job.dirtyRow = true;
      return [];
    }
    const failures: string[] = [];
    const assigned: RoleRecord[] = [];
    for (const { role: name, nodeId } of placement.assignments) {
      const role = pending.find((candidate) => candidate.role === name) as RoleRecord;
      role.nodeId = nodeId;
      try {
        await this.commander.assign(nodeId, {
          token: tokenOf(job.id, role),
          entry: entryOf(role.kind),
          config: buildRoleConfig(
            {
              jobId: job.id,
              subjectRoot: this.subjects.root,
              spec: job.spec,
              prepared: job.prepared,
            },
            role,
          ),
        });
        job.record(transitionRole(role, RoleState.Assigned, null, this.ledger.now()));
        assigned.push(role);
      } catch (error) {
        failures.push(
          `${role.role} on ${nodeId}: ${error instanceof Error ? error.message : String(error)}`,
        );
        job.record(
          transitionRole(
            role,
            RoleState.Superseded,
            `assignment failed: ${String(error)}`,
            this.ledger.now(),
          ),
        );
        this.addRole(job, {
          ...role,
          attempt: role.attempt + 1,
          state: RoleState.Pending,
          nodeId: null,
          reason: null,
        });
      }
      job.touch(role);
      if (failures.length > 0) break;
    }
    if (failures.length === 0) {
      job.lastWaitReason = null;
      job.record(transitionJob(job, JobState.Running, null, this.ledger.now()));
      return [];
    }
    // All or nothing: undo what was assigned and try again on the next pass with new attempts.
    const stops: RoleToStop[] = [];
    for (const role of assigned) {
      stops.push({ jobId: job.id, role: { ...role }, nodeId: role.nodeId as string });
      job.record(transitionRole(role, RoleState.Superseded, 'placement undone', this.ledger.now()));
      this.addRole(job, {
        ...role,
        attempt: role.attempt + 1,
        state: RoleState.Pending,
        nodeId: null,
        reason: null,
      });
    }
    job.reason = `assignment failed, retrying: ${failures.join('; ')}`;
    job.record(infoEvent({ assignmentFailed: failures }, this.ledger.now()));
    return stops;
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
