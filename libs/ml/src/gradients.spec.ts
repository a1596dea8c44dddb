import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, OutputSchema, trainingSettingsSchema } from '@dln/contracts';
import { selectBackend } from './backend';
import { gatherRows } from './batch';
import { buildModel } from './model-builder';
import { computeGradients, lossSettingsFor, predictBatch } from './gradients';
import { denseBinarySchema, syntheticBinaryBatch } from './reference-fixtures';
import { readWeights } from './variables';

beforeAll(async () => {
  await selectBackend({ log: () => undefined, warn: () => undefined }, { force: 'wasm' });
});

const logistic = modelSpecSchema.parse({ kind: 'logistic' });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i += 1)
    max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Hand-computed gradient of weighted mean BCE for a logistic model: X^T (w (p - y)) / n. */
function logisticGradient(
  weights: Float32Array,
  dense: Float32Array,
  labels: Float32Array,
  width: number,
  classWeight = [1, 1],
) {
  const n = labels.length;
  const grad = new Float64Array(width + 1);
  let loss = 0;
  for (let row = 0; row < n; row += 1) {
    let z = weights[width] as number;
    for (let col = 0; col < width; col += 1)
      z += (weights[col] as number) * (dense[row * width + col] as number);
    const p = 1 / (1 + Math.exp(-z));
    const y = labels[row] as number;
    const w = classWeight[y] as number;
    loss -= w * (y * Math.log(p) + (1 - y) * Math.log(1 - p));
    for (let col = 0; col < width; col += 1)
      grad[col] = (grad[col] as number) + (w * (p - y) * (dense[row * width + col] as number)) / n;
    grad[width] = (grad[width] as number) + (w * (p - y)) / n;
  }
  return { loss: loss / n, grad };
}

describe('computeGradients', () => {
  it('equals the hand-computed logistic gradient, with and without class weights', () => {
    const schema = denseBinarySchema(6);
    const model = buildModel(logistic, schema, 4);
    const batch = syntheticBinaryBatch(40, 6, 1);
    const weights = readWeights(model);
    const plain = computeGradients(model, batch, { labelKind: 'binary' });
    const expected = logisticGradient(weights, batch.dense, batch.labels, 6);
    expect(plain.exampleCount).toBe(40);
    expect(plain.loss).toBeCloseTo(expected.loss, 5);
    expect(maxAbsDiff(plain.gradients, expected.grad)).toBeLessThan(1e-6);

    const settings = trainingSettingsSchema.parse({
      epochs: 1,
      batchSize: 8,
      optimizer: { kind: 'sgd', learningRate: 1 },
      classWeights: { '1': 3 },
    });
    const loss = lossSettingsFor(logistic, schema, settings);
    expect(Array.from(loss.classWeights!)).toEqual([1, 3]);
    const weighted = computeGradients(model, batch, loss);
    const expectedWeighted = logisticGradient(weights, batch.dense, batch.labels, 6, [1, 3]);
    expect(weighted.loss).toBeCloseTo(expectedWeighted.loss, 5);
    expect(maxAbsDiff(weighted.gradients, expectedWeighted.grad)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('combines per-worker gradients weighted by example counts into the union batch gradient', () => {
    const schema = denseBinarySchema(8);
    const model = buildModel(modelSpecSchema.parse({ kind: 'mlp', hidden: [6] }), schema, 2);
    const batch = syntheticBinaryBatch(50, 8, 5);
    const first = computeGradients(
      model,
      gatherRows(
        batch,
        Array.from({ length: 32 }, (_, i) => i),
      ),
      { labelKind: 'binary' },
    );
    const second = computeGradients(
      model,
      gatherRows(
        batch,
        Array.from({ length: 18 }, (_, i) => 32 + i),
      ),
      { labelKind: 'binary' },
    );
    const empty = computeGradients(model, gatherRows(batch, []), { labelKind: 'binary' });
    const union = computeGradients(model, batch, { labelKind: 'binary' });
    const combined = first.gradients.map(
      (g, i) =>
        (g * 32 + (second.gradients[i] as number) * 18 + (empty.gradients[i] as number) * 0) / 50,
    );
    expect(empty.exampleCount).toBe(0);
    expect(maxAbsDiff(combined, union.gradients)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('trains class and numeric labels, and adds the L2 penalty on kernels only', () => {
    const classes: OutputSchema = {
      ...denseBinarySchema(3),
      label: { kind: 'class', classes: ['a', 'b', 'c'] },
    };
    const model = buildModel(logistic, classes, 1);
    const batch = {
      ...syntheticBinaryBatch(10, 3, 2),
      labels: Float32Array.from({ length: 10 }, (_, i) => i % 3),
    };
    const result = computeGradients(model, batch, { labelKind: 'class' });
    const probabilities = predictBatch(model, batch);
    let expectedLoss = 0;
    for (let row = 0; row < 10; row += 1)
      expectedLoss -= Math.log(probabilities[row * 3 + (row % 3)]!) / 10;
    expect(result.loss).toBeCloseTo(expectedLoss, 5);
    const penalized = computeGradients(model, batch, { labelKind: 'class', l2: 0.5 });
    const weights = readWeights(model);
    // d/dw of 0.5 * sum(w^2) is w for the 3x3 kernel; the 3 biases are not penalized.
    for (let i = 0; i < 9; i += 1)
      expect(penalized.gradients[i]! - result.gradients[i]!).toBeCloseTo(weights[i]!, 5);
    for (let i = 9; i < 12; i += 1)
      expect(penalized.gradients[i]).toBeCloseTo(result.gradients[i]!, 6);
    model.dispose();

    const numeric = buildModel(
      logistic,
      { ...denseBinarySchema(3), label: { kind: 'numeric' } },
      1,
    );
    const targets = { ...batch, labels: Float32Array.from({ length: 10 }, (_, i) => i / 2) };
    const outputs = predictBatch(numeric, targets);
    const mse = outputs.reduce((sum, p, i) => sum + (p - targets.labels[i]!) ** 2, 0) / 10;
    expect(computeGradients(numeric, targets, { labelKind: 'numeric' }).loss).toBeCloseTo(mse, 4);
    numeric.dispose();
  });

  it('runs dropout in training only, and leaks no tensors', () => {
    const schema = denseBinarySchema(8);
    const model = buildModel(
      modelSpecSchema.parse({ kind: 'mlp', hidden: [64], dropout: 0.5 }),
      schema,
      2,
    );
    const batch = syntheticBinaryBatch(32, 8, 5);
    const before = tf.memory().numTensors;
    const a = computeGradients(model, batch, { labelKind: 'binary' });
    const b = computeGradients(model, batch, { labelKind: 'binary' });
    expect(Array.from(a.gradients)).not.toEqual(Array.from(b.gradients));
    expect(Array.from(predictBatch(model, batch))).toEqual(Array.from(predictBatch(model, batch)));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
