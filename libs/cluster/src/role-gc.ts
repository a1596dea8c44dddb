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

/**
 * The cap on V8's young generation (one semi-space, MB) in role processes; 0 leaves V8's default
 * (semi-spaces grow to 16 MB). A worker or ps keeps a small JavaScript heap (tensors live in WASM
 * memory, messages in buffers outside it), and after a full collection its old generation's
 * headroom is smaller than a grown young generation, so V8 starts the next incremental marking at
 * once. Measured in bench:train's warm roles: a mark-compact every ~200 ms with ~40 ms of marking
 * and pause on the main thread each (17 in the 1-worker role's 3.6 s). Capped at 4 MB: one, four
 * times as many scavenges, and the 1-worker role's CPU per step 6.2-7.2 ms against 9.2-9.6 ms
 * (3 interleaved pairs).
 */
export const ROLE_SEMI_SPACE_MB = 4;

export interface RoleGcSettings {
  mode: RoleGcMode;
  /** Young generation cap (MB per semi-space); 0: V8's default. */
  semiSpaceMb: number;
}

/** The node flags a role process starts with, for `roles` role slots on a host of `cores`. */
export function roleNodeArgs(
  settings: RoleGcSettings,
  roles: number,
  cores: number = availableParallelism(),
): string[] {
  const { mode, semiSpaceMb } = settings;
  const single = mode === 'single-threaded' || (mode === 'auto' && roles >= cores);
  return [
    ...(single ? ['--single-threaded-gc'] : []),
    ...(semiSpaceMb > 0 ? [`--max-semi-space-size=${semiSpaceMb}`] : []),
  ];
}
