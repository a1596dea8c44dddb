import { EarlyStoppingMetric, TrainingSettings } from '@dln/contracts';
import { mulberry32 } from './random';

/**
 * A worker's example order for one epoch: its split shuffled by a PRNG seeded from the job seed,
 * the epoch and the worker index. Workers and the reference loop share it, so both see the same
 * batches.
 */
export function epochOrder(
  split: readonly number[],
  seed: number,
  epoch: number,
  worker: number,
): number[] {
  const random = mulberry32(
    (seed ^ Math.imul(epoch + 1, 0x9e3779b1) ^ Math.imul(worker + 1, 0x85ebca77)) >>> 0,
  );
  const order = [...split];
  for (let i = order.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** The epoch's batches of a worker (the last one may be short). */
export function epochBatches(
  split: readonly number[],
  batchSize: number,
  seed: number,
  epoch: number,
  worker: number,
): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  const order = epochOrder(split, seed, epoch, worker);
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize)
    batches.push(order.slice(start, start + batchSize));
  return batches;
}

/** Row i goes to worker i mod W (a stand-in for the AM's record-id hash split in tests). */
export function roundRobinSplits(size: number, workers: number): number[][] {
  const splits: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < size; i += 1) splits[i % workers]?.push(i);
  return splits;
}

const LOWER_IS_BETTER: Record<EarlyStoppingMetric, boolean> = {
  loss: true,
  mae: true,
  rmse: true,
  auc: false,
  accuracy: false,
};

/** Stops after `patience` evaluations without an improvement larger than `minDelta`. */
export class EarlyStopper {
  private best: number | undefined;
  private stale = 0;

  constructor(private readonly settings: NonNullable<TrainingSettings['earlyStopping']>) {}

  /** Records one evaluation's metric value; true when training should stop. */
  shouldStop(value: number): boolean {
    if (!Number.isFinite(value)) return true;
    const lower = LOWER_IS_BETTER[this.settings.metric];
    const improved =
      this.best === undefined ||
      (lower ? this.best - value : value - this.best) > this.settings.minDelta;
    if (improved) {
      this.best = value;
      this.stale = 0;
      return false;
    }
    this.stale += 1;
    return this.stale > this.settings.patience;
  }
}
