import {
  FAILOVER_DEFAULTS,
  FailoverPolicy,
  FailoverSpec,
  JobControlNotice,
  JobSpec,
  JobState,
  RoleStart,
  RoleState,
} from '@dln/contracts';
import { initialRoles, isLiveRole, RoleKind, RoleRecord, tokenOf } from './roles';
import { JobEventDraft, JobStatus, infoEvent, transitionJob, transitionRole } from './transitions';

/** What the AM keeps about failover between restarts (persisted with the job). */
export interface FailoverState {
  /** Failures per role name, over every attempt and generation. */
  failures: Record<string, number>;
  /** Replacements are not placed before this time (backoff); null: at once. */
  retryAt: number | null;
  /** Every worker finished but the export is not in: the job fails at this time. */
  exportDeadline: number | null;
}

export const emptyFailoverState = (): FailoverState => ({
  failures: {},
  retryAt: null,
  exportDeadline: null,
});

/** A job as failover changes it (ActiveJob is one). */
export interface FailoverJob extends JobStatus {
  readonly id: string;
  readonly spec: JobSpec;
  generation: number;
  roles: RoleRecord[];
  failover: FailoverState;
}

export interface RoleFailure {
  to: typeof RoleState.Failed | typeof RoleState.Lost;
  reason: string;
  /** false: a retry cannot help (bad spec, model too large): the job fails at once. */
  retryable: boolean;
}

export type FailoverDecision =
  | { action: 'fail-job'; reason: string }
  | { action: 'replace-role'; delayMs: number }
  | { action: 'restart-job'; delayMs: number; why: string };

/** What one failure changed: events and records to commit, processes to stop, notices to send. */
export interface FailoverOutcome {
  decision: FailoverDecision;
  events: JobEventDraft[];
  changed: RoleRecord[];
  /** Incarnations whose process may still run and must be stopped (copies, with their node). */
  stop: RoleRecord[];
  /** Incarnations that held a slot and no longer do. */
  release: RoleRecord[];
  notices: JobControlNotice[];
}

/** The job's failover settings; specs stored before failover existed get the defaults. */
export function failoverOf(spec: Pick<JobSpec, 'failover'>): FailoverSpec {
  return { ...FAILOVER_DEFAULTS, ...(spec.failover ?? {}) };
}

/** Wait before the n-th restart (n >= 1): exponential from the base, capped. */
export function backoffDelay(failover: FailoverSpec, restart: number): number {
  if (!Number.isSafeInteger(restart) || restart < 1) return 0;
  const delay = failover.backoffMs * 2 ** Math.min(restart - 1, 30);
  return Math.min(delay, failover.maxBackoffMs);
}

/** The reason a job fails with when one of its roles fails. */
export function roleFailureReason(role: Pick<RoleRecord, 'role'>, failure: RoleFailure): string {
  return `${role.role} ${failure.to === RoleState.Lost ? 'lost' : 'failed'}: ${failure.reason}`;
}

/**
 * What to do about the `failures`-th failure of `role`: fail the job (not retryable, attempts
 * exhausted, or the job is not running yet where a restart cannot help), replace the role alone,
 * or restart the whole job (policy restart-job; a ps shard in sync mode under restart-role, since
 * the workers' pushes after the last checkpoint would otherwise be lost to it).
 */
export function decideFailover(
  spec: Pick<JobSpec, 'failover' | 'training'>,
  role: Pick<RoleRecord, 'role' | 'kind'>,
  failure: RoleFailure,
  failures: number,
): FailoverDecision {
  const failover = failoverOf(spec);
  const reason = roleFailureReason(role, failure);
  if (!failure.retryable) return { action: 'fail-job', reason };
  if (failures > failover.maxAttempts) {
    return {
      action: 'fail-job',
      reason: `${reason} (attempts exhausted: ${role.role} failed ${failures} time(s), failover.maxAttempts is ${failover.maxAttempts})`,
    };
  }
  const delayMs = backoffDelay(failover, failures);
  if (failover.policy === FailoverPolicy.RestartJob)
    return { action: 'restart-job', delayMs, why: `${reason} (policy restart-job)` };
  if (role.kind === RoleKind.Ps && spec.training.updateMode === 'sync')
    return {
      action: 'restart-job',
      delayMs,
      why: `${reason} (a ps shard in sync mode rolls every role back)`,
    };
  return { action: 'replace-role', delayMs };
}

/**
 * Applies a failure of the live incarnation `role` of `job`: the role goes FAILED/LOST and, as
 * decided, is replaced by attempt + 1 (job RECOVERING), or every role restarts under generation
 * + 1 (job RECOVERING). On `fail-job` only the role's own transition is made: the caller ends
 * the job. `restoreFrom` is the latest complete checkpoint manifest (for the notices).
 */
export function applyRoleFailure(
  job: FailoverJob,
  role: RoleRecord,
  failure: RoleFailure,
  now: number,
  restoreFrom: string | null,
): FailoverOutcome {
  if (!isLiveRole(role)) throw new Error(`${role.role} is ${role.state}, not live`);
  const outcome: FailoverOutcome = {
    decision: { action: 'fail-job', reason: '' },
    events: [transitionRole(role, failure.to, failure.reason, now)],
    changed: [role],
    stop: [],
    release: role.nodeId === null ? [] : [{ ...role }],
    notices: [],
  };
  const failures = (job.failover.failures[role.role] ?? 0) + 1;
  job.failover.failures[role.role] = failures;
  outcome.decision = decideFailover(job.spec, role, failure, failures);
  if (outcome.decision.action === 'fail-job') return outcome;
  job.failover.retryAt = Math.max(job.failover.retryAt ?? 0, now + outcome.decision.delayMs);
  if (job.state === JobState.Running)
    outcome.events.push(
      transitionJob(job, JobState.Recovering, roleFailureReason(role, failure), now),
    );
  if (outcome.decision.action === 'replace-role') {
    const replacement = replaceRole(job, role, now, outcome);
    outcome.notices.push({
      type: 'role-replaced',
      jobId: job.id,
      superseded: tokenOf(job.id, role),
      by: tokenOf(job.id, replacement),
      reason: roleFailureReason(role, failure),
    });
    outcome.events.push(
      infoEvent(
        {
          failover: 'replace-role',
          attempt: replacement.attempt,
          failures,
          retryInMs: outcome.decision.delayMs,
        },
        now,
        role.role,
      ),
    );
  } else {
    restartGeneration(job, now, outcome.decision.why, outcome);
    outcome.notices.push({
      type: 'generation',
      jobId: job.id,
      generation: job.generation,
      restoreFrom,
      reason: outcome.decision.why,
    });
    outcome.events.push(
      infoEvent(
        {
          failover: 'restart-job',
          generation: job.generation,
          restoreFrom,
          failures,
          retryInMs: outcome.decision.delayMs,
        },
        now,
        role.role,
      ),
    );
  }
  return outcome;
}

/** Supersedes an ended incarnation and adds attempt + 1, unplaced, starting as a replacement. */
function replaceRole(
  job: FailoverJob,
  role: RoleRecord,
  now: number,
  outcome: FailoverOutcome,
): RoleRecord {
  outcome.events.push(transitionRole(role, RoleState.Superseded, 'replaced', now));
  const replacement: RoleRecord = {
    ...role,
    attempt: role.attempt + 1,
    state: RoleState.Pending,
    nodeId: null,
    reason: null,
    start: role.start === RoleStart.Fresh ? RoleStart.Replacement : role.start,
  };
  job.roles.push(replacement);
  outcome.changed.push(replacement);
  return replacement;
}

/**
 * Ends every incarnation of the current generation (SUPERSEDED; live ones are to be stopped,
 * placed-but-unassigned ones give their slot back) and adds the roles of generation + 1.
 */
function restartGeneration(
  job: FailoverJob,
  now: number,
  why: string,
  outcome: FailoverOutcome,
): void {
  const reason = `superseded by generation ${job.generation + 1}: ${why}`;
  for (const record of job.roles) {
    if (record.state === RoleState.Superseded || record.generation !== job.generation) continue;
    if (record.state === RoleState.Done) continue;
    if (isLiveRole(record) && record.nodeId !== null) outcome.stop.push({ ...record });
    else if (record.state === RoleState.Pending && record.nodeId !== null)
      outcome.release.push({ ...record });
    outcome.events.push(transitionRole(record, RoleState.Superseded, reason, now));
    if (!outcome.changed.includes(record)) outcome.changed.push(record);
  }
  job.generation += 1;
  for (const fresh of initialRoles(job.spec, job.generation)) {
    job.roles.push(fresh);
    outcome.changed.push(fresh);
  }
}

/** RECOVERING is over once every current role runs again (workers that finished count). */
export function isRecovered(current: readonly Pick<RoleRecord, 'kind' | 'state'>[]): boolean {
  return (
    current.length > 0 &&
    current.every(
      (role) =>
        role.state === RoleState.Running ||
        (role.kind === RoleKind.Worker && role.state === RoleState.Done),
    )
  );
}
