import { Example, OutputSchema } from '@dln/contracts';

/**
 * Examples as row-major columns: `dense` is size x denseWidth, `ids` is size x idCount, `labels`
 * has one value per example (0/1 for binary, the class index for class labels).
 */
export interface ExampleBatch {
  size: number;
  denseWidth: number;
  idCount: number;
  dense: Float32Array;
  ids: Int32Array;
  labels: Float32Array;
}

/** Packs decoded examples into one batch, checking widths, ids and labels against the schema. */
export function batchFromExamples(
  examples: readonly Example[],
  schema: OutputSchema,
): ExampleBatch {
  const size = examples.length;
  const { denseWidth } = schema;
  const idCount = schema.ids.length;
  const batch: ExampleBatch = {
    size,
    denseWidth,
    idCount,
    dense: new Float32Array(size * denseWidth),
    ids: new Int32Array(size * idCount),
    labels: new Float32Array(size),
  };
  examples.forEach((example, row) => {
    if (example.dense.length !== denseWidth || example.ids.length !== idCount) {
      throw new Error(
        `example ${row} has ${example.dense.length} dense values and ${example.ids.length} ids, the schema says ${denseWidth} and ${idCount}`,
      );
    }
    batch.dense.set(example.dense, row * denseWidth);
    batch.ids.set(example.ids, row * idCount);
    batch.labels[row] = example.label;
  });
  checkBatch(batch, schema);
  return batch;
}

/** Throws on ids outside their column's cardinality, non-finite values, or bad labels. */
export function checkBatch(batch: ExampleBatch, schema: OutputSchema): void {
  for (let i = 0; i < batch.dense.length; i += 1) {
    if (!Number.isFinite(batch.dense[i]))
      throw new Error(
        `dense value ${i % batch.denseWidth} of example ${Math.floor(i / batch.denseWidth)} is not finite`,
      );
  }
  for (let i = 0; i < batch.ids.length; i += 1) {
    const column = schema.ids[i % batch.idCount];
    const id = batch.ids[i] as number;
    if (column && (id < 0 || id >= column.cardinality)) {
      throw new Error(
        `id ${id} of column ${column.name} in example ${Math.floor(i / batch.idCount)} is outside [0, ${column.cardinality})`,
      );
    }
  }
  const classes = schema.label.kind === 'class' ? schema.label.classes.length : 2;
  for (let row = 0; row < batch.size; row += 1) {
    const label = batch.labels[row] as number;
    const ok =
      schema.label.kind === 'numeric'
        ? Number.isFinite(label)
        : Number.isInteger(label) && label >= 0 && label < classes;
    if (!ok)
      throw new Error(`label ${label} of example ${row} does not fit a ${schema.label.kind} label`);
  }
}

/** The rows `indices` of a batch, in that order. */
export function gatherRows(batch: ExampleBatch, indices: readonly number[]): ExampleBatch {
  const { denseWidth, idCount } = batch;
  const out: ExampleBatch = {
    size: indices.length,
    denseWidth,
    idCount,
    dense: new Float32Array(indices.length * denseWidth),
    ids: new Int32Array(indices.length * idCount),
    labels: new Float32Array(indices.length),
  };
  indices.forEach((index, row) => {
    if (!Number.isInteger(index) || index < 0 || index >= batch.size)
      throw new RangeError(`row ${index} is outside the batch of ${batch.size}`);
    out.dense.set(
      batch.dense.subarray(index * denseWidth, (index + 1) * denseWidth),
      row * denseWidth,
    );
    out.ids.set(batch.ids.subarray(index * idCount, (index + 1) * idCount), row * idCount);
    out.labels[row] = batch.labels[index] as number;
  });
  return out;
}
