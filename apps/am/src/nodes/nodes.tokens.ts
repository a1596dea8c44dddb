import type { Clock } from '@dln/cluster';

/** DI token of the registry's liveness settings (from the am config). */
export const NODE_REGISTRY_SETTINGS = Symbol('NODE_REGISTRY_SETTINGS');

export interface NodeRegistrySettings {
  heartbeatIntervalMs: number;
  lossAfterMissed: number;
  sweepIntervalMs: number;
  /** Extra time restored nodes get after an AM start before silence counts. */
  restoreGraceMs: number;
  clock?: Clock;
}
