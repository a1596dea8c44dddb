/** Job states of ../shared/ARCHITECTURE.md. */
export const JobState = {
  Submitted: 'SUBMITTED',
  Preparing: 'PREPARING',
  Scheduling: 'SCHEDULING',
  Running: 'RUNNING',
  Recovering: 'RECOVERING',
  Succeeded: 'SUCCEEDED',
  Failed: 'FAILED',
  Cancelled: 'CANCELLED',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** Every allowed job transition; anything else is a bug and is refused. */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  SUBMITTED: ['PREPARING', 'SCHEDULING', 'FAILED', 'CANCELLED'],
  PREPARING: ['SCHEDULING', 'FAILED', 'CANCELLED'],
  SCHEDULING: ['RUNNING', 'FAILED', 'CANCELLED'],
  RUNNING: ['RECOVERING', 'SUCCEEDED', 'FAILED', 'CANCELLED'],
  RECOVERING: ['RUNNING', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

/** Role states of ../shared/ARCHITECTURE.md. */
export const RoleState = {
  Pending: 'PENDING',
  Assigned: 'ASSIGNED',
  Running: 'RUNNING',
  Done: 'DONE',
  Failed: 'FAILED',
  Lost: 'LOST',
  Superseded: 'SUPERSEDED',
} as const;
export type RoleState = (typeof RoleState)[keyof typeof RoleState];

export const ROLE_TRANSITIONS: Readonly<Record<RoleState, readonly RoleState[]>> = {
  PENDING: ['ASSIGNED', 'SUPERSEDED'],
  ASSIGNED: ['RUNNING', 'FAILED', 'LOST', 'SUPERSEDED'],
  RUNNING: ['DONE', 'FAILED', 'LOST', 'SUPERSEDED'],
  DONE: [],
  FAILED: ['SUPERSEDED'],
  LOST: ['SUPERSEDED'],
  SUPERSEDED: [],
};

/** Node liveness as the AM sees it. */
export const NodeStatus = { Alive: 'ALIVE', Lost: 'LOST' } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

export const NODE_TRANSITIONS: Readonly<Record<NodeStatus, readonly NodeStatus[]>> = {
  ALIVE: ['LOST'],
  LOST: ['ALIVE'],
};

export function isFinalJobState(state: JobState): boolean {
  return JOB_TRANSITIONS[state].length === 0;
}

export function canTransition<S extends string>(
  table: Readonly<Record<S, readonly S[]>>,
  from: S,
  to: S,
): boolean {
  return table[from].includes(to);
}

export class IllegalTransitionError extends Error {
  constructor(what: string, from: string, to: string) {
    super(`${what} cannot go from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

export function assertTransition<S extends string>(
  what: string,
  table: Readonly<Record<S, readonly S[]>>,
  from: S,
  to: S,
): void {
  if (!canTransition(table, from, to)) throw new IllegalTransitionError(what, from, to);
}
