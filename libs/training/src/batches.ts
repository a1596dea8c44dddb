import { ExampleBatch } from '@dln/ml';

/** An empty batch of the given widths. */
export function emptyBatch(denseWidth: number, idCount: number): ExampleBatch {
  return {
    size: 0,
    denseWidth,
    idCount,
    dense: new Float32Array(0),
    ids: new Int32Array(0),
    labels: new Float32Array(0),
  };
}

/** The rows of several batches one after another (the union batch of a sync step). */
export function concatBatches(batches: readonly ExampleBatch[]): ExampleBatch {
  const first = batches[0];
  if (!first) throw new Error('no batches to concatenate');
  const size = batches.reduce((sum, batch) => sum + batch.size, 0);
  const out: ExampleBatch = {
    size,
    denseWidth: first.denseWidth,
    idCount: first.idCount,
    dense: new Float32Array(size * first.denseWidth),
    ids: new Int32Array(size * first.idCount),
    labels: new Float32Array(size),
  };
  let row = 0;
  for (const batch of batches) {
    if (batch.denseWidth !== first.denseWidth || batch.idCount !== first.idCount) {
      throw new Error('batches of different widths cannot be concatenated');
    }
    out.dense.set(batch.dense, row * first.denseWidth);
    out.ids.set(batch.ids, row * first.idCount);
    out.labels.set(batch.labels, row);
    row += batch.size;
  }
  return out;
}

/** Rows [start, end) of a batch, as views (no copy). */
export function sliceBatch(batch: ExampleBatch, start: number, end: number): ExampleBatch {
  const to = Math.min(end, batch.size);
  return {
    size: Math.max(0, to - start),
    denseWidth: batch.denseWidth,
    idCount: batch.idCount,
    dense: batch.dense.subarray(start * batch.denseWidth, to * batch.denseWidth),
    ids: batch.ids.subarray(start * batch.idCount, to * batch.idCount),
    labels: batch.labels.subarray(start, to),
  };
}
