import { modelSpecSchema, ModelSpec, OutputSchema } from '@dln/contracts';
import { ExampleBatch } from './batch';
import { mulberry32 } from './random';

/** The reference model of shared/PERFORMANCE.md: 64 -> 256 relu -> 128 relu -> 1 sigmoid. */
export const REFERENCE_MLP: ModelSpec = modelSpecSchema.parse({ kind: 'mlp', hidden: [256, 128] });

/** An output schema of `width` dense features, no ids, and a binary label. */
export function denseBinarySchema(width: number): OutputSchema {
  return {
    formatVersion: 1,
    dense: [{ name: 'x', offset: 0, width }],
    denseWidth: width,
    ids: [],
    label: { kind: 'binary' },
  };
}

/**
 * Synthetic CTR-like data: dense features in [-1, 1], a label drawn from a logistic function of
 * a fixed linear combination, so a model has something to learn.
 */
export function syntheticBinaryBatch(size: number, width: number, seed: number): ExampleBatch {
  const random = mulberry32(seed);
  const weights = Float32Array.from({ length: width }, (_, i) => Math.sin(i + 1) * 2);
  const dense = new Float32Array(size * width);
  const labels = new Float32Array(size);
  for (let row = 0; row < size; row += 1) {
    let z = -0.5;
    for (let col = 0; col < width; col += 1) {
      const x = random() * 2 - 1;
      dense[row * width + col] = x;
      z += (weights[col] as number) * x;
    }
    labels[row] = random() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { size, denseWidth: width, idCount: 0, dense, ids: new Int32Array(0), labels };
}
