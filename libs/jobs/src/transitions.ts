import {
  JOB_TRANSITIONS,
  JobEvent,
  JobState,
  ROLE_TRANSITIONS,
  RoleState,
  assertTransition,
} from '@dln/contracts';
import type { RoleRecord } from './roles';

/** An event to record (one SQL row and one NATS message); the store numbers it. */
export interface JobEventDraft {
  type: JobEvent['type'];
  from: string | null;
  to: string | null;
  role: string | null;
  detail: Record<string, unknown>;
  at: number;
}

/** The mutable part of a job the state machine changes. */
export interface JobStatus {
  state: JobState;
  reason: string | null;
}

/** Applies a job transition (refusing any the table does not allow) and returns its event. */
export function transitionJob(
  job: JobStatus,
  to: JobState,
  reason: string | null,
  at: number,
): JobEventDraft {
  assertTransition('job', JOB_TRANSITIONS, job.state, to);
  const from = job.state;
  job.state = to;
  job.reason = reason;
  return { type: 'job-state', from, to, role: null, detail: reason === null ? {} : { reason }, at };
}

/** Applies a role transition (refusing any the table does not allow) and returns its event. */
export function transitionRole(
  role: RoleRecord,
  to: RoleState,
  reason: string | null,
  at: number,
): JobEventDraft {
  assertTransition(`role ${role.role}`, ROLE_TRANSITIONS, role.state, to);
  const from = role.state;
  role.state = to;
  role.reason = reason;
  const detail: Record<string, unknown> = { generation: role.generation, attempt: role.attempt };
  if (role.nodeId !== null) detail['nodeId'] = role.nodeId;
  if (reason !== null) detail['reason'] = reason;
  return { type: 'role-state', from, to, role: role.role, detail, at };
}

/**
 * Ends a role because its job ended: a running role is DONE; one that never started (PENDING,
 * ASSIGNED) is SUPERSEDED, the only end those states allow.
 */
export function retireRole(
  role: RoleRecord,
  reason: string,
  at: number,
): JobEventDraft | undefined {
  switch (role.state) {
    case RoleState.Pending:
    case RoleState.Assigned:
      return transitionRole(role, RoleState.Superseded, reason, at);
    case RoleState.Running:
      return transitionRole(role, RoleState.Done, reason, at);
    default:
      return undefined;
  }
}

export function infoEvent(
  detail: Record<string, unknown>,
  at: number,
  role: string | null = null,
): JobEventDraft {
  return { type: 'info', from: null, to: null, role, detail, at };
}
