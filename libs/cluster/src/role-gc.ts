import { availableParallelism } from 'node:os';

/**
 * How V8 collects garbage in role processes. `parallel` is V8's default (helper threads mark and
 * scavenge beside the main thread); `single-threaded` keeps all of it on the role's own thread.
 * `auto` picks single-threaded when the node's roles can fill its cores: the helpers then only
 * take CPU from the other roles, and under that contention they spin (bench:train, 2 workers +
 * 1 ps on 2 cores, 4 interleaved pairs: a sync round's CPU had a median of 32.4 ms against 36.6 ms
 * with parallel GC). A node sees only its own slots: nodes sharing a host set the mode themselves.
 */
export const ROLE_GC_MODES = ['auto', 'single-threaded', 'parallel'] as const;
export type RoleGcMode = (typeof ROLE_GC_MODES)[number];

/** The node flags a role process starts with, for `roles` role slots on a host of `cores`. */
export function roleNodeArgs(
  mode: RoleGcMode,
  roles: number,
  cores: number = availableParallelism(),
): string[] {
  const single = mode === 'single-threaded' || (mode === 'auto' && roles >= cores);
  return single ? ['--single-threaded-gc'] : [];
}
