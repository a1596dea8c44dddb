import { ExampleBatch, mulberry32 } from '@dln/ml';

/** Examples with their record ids, in stream order. */
export interface LabelledExamples {
  recordIds: string[];
  batch: ExampleBatch;
}

/**
 * Deterministic CTR-like data for tests and benchmarks: dense features in [-1, 1] and a label
 * drawn from a logistic function with an interaction term, so an MLP beats a linear model.
 */
export function syntheticExamples(
  count: number,
  width: number,
  seed: number,
  idPrefix = 'r',
): LabelledExamples {
  const random = mulberry32(seed);
  const weights = Float32Array.from({ length: width }, (_, i) => Math.sin(i + 1) * 1.5);
  const dense = new Float32Array(count * width);
  const labels = new Float32Array(count);
  for (let row = 0; row < count; row += 1) {
    let z = -0.8;
    for (let col = 0; col < width; col += 1) {
      const x = random() * 2 - 1;
      dense[row * width + col] = x;
      z += ((weights[col] as number) * x) / Math.sqrt(width);
    }
    if (width >= 2) z += 2 * (dense[row * width] as number) * (dense[row * width + 1] as number);
    labels[row] = random() < 1 / (1 + Math.exp(-2 * z)) ? 1 : 0;
  }
  const recordIds = Array.from({ length: count }, (_, row) => `${idPrefix}${row}`);
  return {
    recordIds,
    batch: { size: count, denseWidth: width, idCount: 0, dense, ids: new Int32Array(0), labels },
  };
}
