/**
 * The batch schedule shared by the workers and the single-process reference loop: per epoch, a
 * worker shuffles its own part with a PRNG seeded from (job seed, epoch, worker) and cuts it
 * into batches of `batchSize`. Step s of an epoch combines every worker's s-th batch (a worker
 * whose part is exhausted contributes no examples), so all workers run the same number of
 * steps: that of the largest part.
 */

/** mulberry32: small, fast, and the same sequence on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mixSeed(seed: number, epoch: number, worker: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (epoch + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (worker + 0x27d4eb2f), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The order (a permutation of 0..count-1) in which a worker visits its part in an epoch. */
export function epochOrder(count: number, seed: number, epoch: number, worker: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  const random = seededRandom(mixSeed(seed, epoch, worker));
  for (let i = count - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i] as number;
    order[i] = order[j] as number;
    order[j] = swap;
  }
  return order;
}

/** Steps of one epoch: enough for the largest part (at least 1 when any worker has data). */
export function stepsPerEpoch(partSizes: readonly number[], batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  return Math.max(0, ...partSizes.map((size) => Math.ceil(size / batchSize)));
}

/** Indices into the worker's part of its batch at `step` of the epoch (empty once exhausted). */
export function batchAt(order: readonly number[], step: number, batchSize: number): number[] {
  return order.slice(step * batchSize, (step + 1) * batchSize);
}
