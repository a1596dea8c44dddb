/**
 * The sync schedule: step s of an epoch combines every worker's s-th batch (the batches are
 * @dln/ml's `epochBatches`, shared with its reference loop), a worker whose part is exhausted
 * contributing no examples, so every worker runs the steps of the largest part.
 */
export function stepsPerEpoch(partSizes: readonly number[], batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  return Math.max(0, ...partSizes.map((size) => Math.ceil(size / batchSize)));
}
