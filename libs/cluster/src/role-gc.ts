import { availableParallelism } from 'node:os';

/**
 * How V8 collects garbage in role processes. `parallel` is V8's default (helper threads mark and
 * scavenge beside the main thread); `single-threaded` keeps all of it on the role's own thread.
 * `auto` picks single-threaded when the node's roles can fill its cores: the helpers then only
 * take CPU from the other roles, and under that contention they spin (bench:train, 2 workers +
 * 1 ps on 2 cores: a sync round cost 31-33 ms of CPU against 34-39 ms with parallel GC).
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
