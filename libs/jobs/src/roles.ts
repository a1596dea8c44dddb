import { FencingToken, JobSpec, RoleStart, RoleState } from '@dln/contracts';

/** The two kinds of roles a batch job runs. */
export const RoleKind = { Worker: 'worker', Ps: 'ps' } as const;
export type RoleKind = (typeof RoleKind)[keyof typeof RoleKind];

/** One incarnation of a role (a new attempt or generation is a new record). */
export interface RoleRecord {
  /** `worker-N` / `ps-N`, as in the fencing token. */
  role: string;
  kind: RoleKind;
  index: number;
  generation: number;
  attempt: number;
  state: RoleState;
  nodeId: string | null;
  reason: string | null;
  /** How this incarnation starts (fresh, replacing a lost attempt, rolled back to a checkpoint). */
  start: RoleStart;
}

export function roleName(kind: RoleKind, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index > 9999)
    throw new Error(`role index ${index} is out of range`);
  return `${kind}-${index}`;
}

/** Parses `worker-3` / `ps-0`; undefined for anything else. */
export function parseRoleName(role: string): { kind: RoleKind; index: number } | undefined {
  const match = /^(worker|ps)-([0-9]{1,4})$/.exec(role);
  if (!match) return undefined;
  return { kind: match[1] as RoleKind, index: Number(match[2]) };
}

/**
 * The roles of a new generation: S ps shards first (workers need them), then W workers.
 * Generation 0 starts fresh; a later one is a rollback (to the last checkpoint, if any).
 */
export function initialRoles(
  spec: Pick<JobSpec, 'cluster'>,
  generation: number,
  attempt = 0,
): RoleRecord[] {
  const make = (kind: RoleKind, index: number): RoleRecord => ({
    role: roleName(kind, index),
    kind,
    index,
    generation,
    attempt,
    state: RoleState.Pending,
    nodeId: null,
    reason: null,
    start: generation === 0 ? RoleStart.Fresh : RoleStart.Rollback,
  });
  return [
    ...Array.from({ length: spec.cluster.ps }, (_, index) => make(RoleKind.Ps, index)),
    ...Array.from({ length: spec.cluster.workers }, (_, index) => make(RoleKind.Worker, index)),
  ];
}

export function tokenOf(
  jobId: string,
  role: Pick<RoleRecord, 'role' | 'generation' | 'attempt'>,
): FencingToken {
  return { jobId, generation: role.generation, role: role.role, attempt: role.attempt };
}

/** Roles whose process may still run (placed and not ended). */
export function isLiveRole(role: Pick<RoleRecord, 'state'>): boolean {
  return role.state === RoleState.Assigned || role.state === RoleState.Running;
}

/**
 * The current incarnation of each role name: the highest generation, then attempt. Older
 * incarnations stay in the records for history (and fencing) only.
 */
export function currentRoles(records: readonly RoleRecord[]): RoleRecord[] {
  const byName = new Map<string, RoleRecord>();
  for (const record of records) {
    const known = byName.get(record.role);
    if (
      !known ||
      record.generation > known.generation ||
      (record.generation === known.generation && record.attempt > known.attempt)
    ) {
      byName.set(record.role, record);
    }
  }
  return [...byName.values()].sort((a, b) =>
    a.kind === b.kind ? a.index - b.index : a.kind === RoleKind.Ps ? -1 : 1,
  );
}
