/** Where a worker's loop starts: an epoch and a step within it (`step === steps`: only its end). */
export interface LoopStart {
  epoch: number;
  step: number;
}

/**
 * The loop start for a global step position (the next step to push, as a ps shard acknowledged
 * it or a checkpoint recorded it). A position on an epoch boundary resumes at the END of the
 * epoch before it, not at the next one: the predecessor may have stopped before worker 0's
 * evaluation or before the epoch gate, which the AM answers again (its verdicts are kept).
 */
export function loopStartOf(position: number, steps: number, epochs: number): LoopStart {
  if (!Number.isSafeInteger(position) || position < 0)
    throw new RangeError(`a data position must be a non-negative integer, got ${position}`);
  if (steps === 0) return { epoch: epochs, step: 0 };
  if (position > 0 && position % steps === 0) return { epoch: position / steps - 1, step: steps };
  return { epoch: Math.floor(position / steps), step: position % steps };
}

/**
 * Examples a worker with `partSize` examples trained on before `start`: every epoch covers its
 * whole part, in batches of `batchSize` (@dln/ml epochBatches), the last one shorter.
 */
export function examplesBefore(start: LoopStart, partSize: number, batchSize: number): number {
  return start.epoch * partSize + Math.min(start.step * batchSize, partSize);
}
