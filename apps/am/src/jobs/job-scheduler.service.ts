import { roleKey } from '@dln/cluster';
import { FencingToken, JobState, NodeStatus, RoleState, Subjects } from '@dln/contracts';
import {
  buildRoleConfig,
  entryOf,
  infoEvent,
  initialRoles,
  isLiveRole,
  isWantedProcess,
  NodeCapacity,
  placeRoles,
  RoleKind,
  RoleRecord,
  RoleSightings,
  tokenOf,
  transitionJob,
  transitionRole,
} from '@dln/jobs';
import { SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { NodeCommander } from '../nodes/node-commander';
import { NodeRegistryService } from '../nodes/node-registry.service';
import { ActiveJob } from './active-job';
import { FailoverService } from './failover.service';
import { JobControl, RoleToStop } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JobReports } from './job-reports.service';
import { JobSubmission } from './job-submission.service';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/**
 * The scheduling loop: places SCHEDULING jobs on free slots (waiting with a reason, FAILED after
 * the spec's timeout), and the replacements of RECOVERING jobs (after their backoff, within the
 * same limit); assigns roles by node command; watches live roles (node LOST, or missing from its
 * node's heartbeats: failover); fails jobs whose export is overdue; stops processes no active
 * job wants (orphans). On start it reloads every non-final job and re-adopts its live roles by
 * their nodes' heartbeats.
 */
@Injectable()
export class JobScheduler implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JobScheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly sightings: RoleSightings;
  /** Orphan processes by role key: first reported, last told to stop. */
  private readonly orphans = new Map<string, { since: number; stoppedAt: number | null }>();

  constructor(
    private readonly ledger: JobLedger,
    private readonly control: JobControl,
    private readonly failover: FailoverService,
    private readonly reports: JobReports,
    private readonly submission: JobSubmission,
    private readonly registry: NodeRegistryService,
    private readonly commander: NodeCommander,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {
    this.sightings = new RoleSightings(settings.roleMissingGraceMs);
  }

  async onModuleInit(): Promise<void> {
    const jobs = await this.ledger.reload();
    const now = this.ledger.now();
    for (const job of jobs) {
      // Slots of roles placed before the restart stay taken until the roles end; each live role
      // is re-adopted once its node's heartbeats list it (or lost when they do not).
      for (const role of job.current()) {
        if (role.nodeId === null) continue;
        if (isLiveRole(role) || role.state === RoleState.Pending)
          this.registry.nodes.reserve(role.nodeId, tokenOf(job.id, role));
        if (isLiveRole(role)) this.sightings.expect(roleKey(tokenOf(job.id, role)), now);
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
    const live = new Set<string>();
    for (const job of this.ledger.active()) {
      try {
        if (job.state === JobState.Scheduling || job.state === JobState.Recovering)
          await this.schedule(job.id);
        if (!job.final) await this.watchRoles(job.id);
        if (job.failover.exportDeadline !== null) await this.reports.exportOverdue(job.id);
        for (const role of job.current())
          if (isLiveRole(role)) live.add(roleKey(tokenOf(job.id, role)));
      } catch (error) {
        this.logger.error({ msg: 'scheduling pass failed', jobId: job.id, error: String(error) });
      }
    }
    this.sightings.retain(live);
    this.stopOrphans();
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
    const recovering = job.state === JobState.Recovering;
    if ((job.state !== JobState.Scheduling && !recovering) || !job.prepared) return [];
    const now = this.ledger.now();
    const waitedMs = now - (job.schedulingSince ?? now);
    if (waitedMs >= job.spec.scheduling.timeoutSeconds * 1000) {
      const why = job.reason ?? 'no placement';
      const what = recovering ? 'replaced' : 'placed';
      return this.control.end(
        job,
        JobState.Failed,
        `roles could not be ${what} within ${job.spec.scheduling.timeoutSeconds} s: ${why}`,
      );
    }
    if (job.current().length === 0) {
      for (const role of initialRoles(job.spec, job.generation)) this.addRole(job, role);
    }
    const unplaced = job
      .current()
      .filter((r) => r.state === RoleState.Pending && r.nodeId === null);
    const retryAt = job.failover.retryAt;
    if (unplaced.length > 0 && retryAt !== null && now < retryAt) {
      this.wait(job, `backing off before restarting ${unplaced.map((r) => r.role).join(', ')}`, {
        backoffUntil: new Date(retryAt).toISOString(),
      });
      return [];
    }
    if (unplaced.length > 0) {
      const placement = placeRoles(
        unplaced.map((role) => ({ ...role, preferNode: this.previousNode(job, role) })),
        this.capacity(),
      );
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
    if (recovering) this.failover.maybeRecovered(job);
    else if (job.current().every(isLiveRole)) {
      job.lastWaitReason = null;
      job.record(transitionJob(job, JobState.Running, null, this.ledger.now()));
    }
    return [];
  }

  /** The node the role's previous attempt of this generation ran on, if any. */
  private previousNode(job: ActiveJob, role: RoleRecord): string | null {
    const previous = job.roles
      .filter(
        (r) =>
          r.role === role.role &&
          r.generation === role.generation &&
          r.attempt < role.attempt &&
          r.nodeId !== null,
      )
      .sort((a, b) => b.attempt - a.attempt)[0];
    return previous?.nodeId ?? null;
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
      const start = await this.failover.startOf(job, role);
      await this.commander.assign(nodeId, {
        token: tokenOf(job.id, role),
        entry: entryOf(role.kind),
        config: buildRoleConfig(
          { jobId: job.id, subjectRoot: this.subjects.root, spec: job.spec, prepared, ...start },
          role,
        ),
      });
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    job.record(transitionRole(role, RoleState.Assigned, null, this.ledger.now()));
    job.touch(role);
    this.sightings.expect(roleKey(tokenOf(job.id, role)), this.ledger.now());
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

  /**
   * A live role whose node is LOST (or unknown), or whose node's heartbeats stopped listing it,
   * is lost: failover replaces it, rolls the job back, or fails the job.
   */
  private async watchRoles(jobId: string): Promise<void> {
    const result = await this.ledger.withJob(jobId, async (job) => {
      const stops: RoleToStop[] = [];
      // One loss at a time: a rollback supersedes every other role.
      for (let round = 0; round <= job.roles.length && !job.final; round += 1) {
        const lost = this.findLost(job);
        if (!lost) break;
        this.sightings.forget(roleKey(tokenOf(job.id, lost.role)));
        stops.push(
          ...(await this.failover.roleFailed(job, lost.role, {
            to: RoleState.Lost,
            reason: lost.reason,
            retryable: true,
          })),
        );
      }
      return stops;
    });
    if (result && result.value.length > 0)
      await this.control.stop(result.value, result.job.reason ?? 'failover');
  }

  private findLost(job: ActiveJob): { role: RoleRecord; reason: string } | undefined {
    const now = this.ledger.now();
    for (const role of job.current()) {
      if (!isLiveRole(role) || role.nodeId === null) continue;
      const node = this.registry.nodes.get(role.nodeId);
      if (!node) return { role, reason: `node ${role.nodeId} is unknown` };
      if (node.status !== NodeStatus.Alive) return { role, reason: `node ${role.nodeId} is lost` };
      const key = roleKey(tokenOf(job.id, role));
      const listed = node.runningRoles.some((running) => roleKey(running.token) === key);
      if (this.sightings.check(key, listed, node.lastHeartbeatAt, now)) {
        return {
          role,
          reason: `node ${role.nodeId} no longer runs it (missing from its heartbeats for over ${this.settings.roleMissingGraceMs} ms)`,
        };
      }
    }
    return undefined;
  }

  /**
   * Stops every process an ALIVE node reports that no active job wants (its job ended, or it is
   * a superseded incarnation, e.g. on a node that came back after being declared LOST), once it
   * has been reported for the grace, and again after each grace while the node still reports it.
   */
  private stopOrphans(): void {
    const now = this.ledger.now();
    const seen = new Set<string>();
    for (const node of this.registry.nodes.list()) {
      if (node.status !== NodeStatus.Alive) continue;
      for (const running of node.runningRoles) {
        const { token } = running;
        const job = this.ledger.get(token.jobId);
        if (isWantedProcess(token.jobId, job?.roles, token)) continue;
        const key = roleKey(token);
        seen.add(key);
        const orphan = this.orphans.get(key) ?? { since: now, stoppedAt: null };
        this.orphans.set(key, orphan);
        const grace = this.settings.orphanGraceMs;
        if (now - orphan.since < grace) continue;
        if (orphan.stoppedAt !== null && now - orphan.stoppedAt < grace) continue;
        orphan.stoppedAt = now;
        void this.stopOrphan(node.registration.nodeId, token);
      }
    }
    for (const key of [...this.orphans.keys()]) if (!seen.has(key)) this.orphans.delete(key);
  }

  private async stopOrphan(nodeId: string, token: FencingToken): Promise<void> {
    this.logger.warn({ msg: 'stopping an orphan role process', ...token, nodeId });
    try {
      await this.commander.stop(nodeId, {
        token,
        graceMs: this.settings.stopGraceMs,
        reason: 'no active job wants this role process',
      });
    } catch (error) {
      this.logger.warn({ msg: 'could not stop an orphan', ...token, nodeId, error: String(error) });
    }
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
