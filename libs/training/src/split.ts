import { murmur3 } from '@dln/features';

/**
 * Seed of the worker split's hash: distinct from the train/validation split (which hashes the
 * bare id with seed 0), so which worker reads a record does not depend on its validation side.
 */
const WORKER_SPLIT_SEED = 0x5eed_0001;

/**
 * The worker (0..workers-1) whose part of the training examples holds this record: murmur3 of
 * the record id, seeded, modulo the worker count. Stated in the role layout; every worker and
 * the reference loop use it, so the union of the workers' parts is the whole training split.
 */
export function workerSplitOf(recordId: string, workers: number): number {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`worker count must be a positive integer, got ${workers}`);
  }
  return murmur3(recordId, WORKER_SPLIT_SEED) % workers;
}

/** A record id and the position of its example in the stream order it was read in. */
export interface SplitEntry {
  recordId: string;
  position: number;
}

/**
 * Splits records (in stream order) by worker: each worker's positions, in stream order. Every
 * worker reads every record id, so each knows how many examples the others have (the sync
 * schedule needs the largest part).
 */
export function splitByWorker(recordIds: readonly string[], workers: number): number[][] {
  const parts: number[][] = Array.from({ length: workers }, () => []);
  recordIds.forEach((recordId, position) => {
    (parts[workerSplitOf(recordId, workers)] as number[]).push(position);
  });
  return parts;
}
