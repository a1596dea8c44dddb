import { RoleReport } from '@dln/contracts';
import { ShardClient } from '@dln/training';

/** Fault points around a worker's pushes (tests). */
export interface PushFaults {
  /** Runs before the worker pushes `step` to any shard; may throw (a kill) or wait (a stall). */
  before?: (step: number) => Promise<void> | void;
  /** A push to `shard` was acknowledged (shard 0's counts: what the incarnation trained). */
  acked?: (shard: number, step: number, count: number) => void;
}

/** Wraps a worker's shard client with fault points. */
export function withPushFaults(client: ShardClient, faults: PushFaults): ShardClient {
  return {
    pull: (shard, step) => client.pull(shard, step),
    push: async (shard, step, count, gradient, withParams) => {
      await faults.before?.(step);
      const reply = await client.push(shard, step, count, gradient, withParams);
      faults.acked?.(shard, step, count);
      return reply;
    },
  };
}

/** A promise with its resolve at hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The last progress report of each worker index sent by the given attempts (role -> attempt). */
export function lastProgress(
  reports: readonly RoleReport[],
  attempts: Record<string, number> = {},
): Map<string, Extract<RoleReport, { type: 'progress' }>> {
  const last = new Map<string, Extract<RoleReport, { type: 'progress' }>>();
  for (const report of reports) {
    if (report.type !== 'progress') continue;
    if ((attempts[report.token.role] ?? 0) !== report.token.attempt) continue;
    last.set(report.token.role, report);
  }
  return last;
}
