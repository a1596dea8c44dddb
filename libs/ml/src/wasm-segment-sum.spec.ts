import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import { registerWasmSegmentSum } from './wasm-segment-sum';

const silent = { log: () => undefined, warn: () => undefined };

/** Gradient of a loss through an embedding lookup (gather), as wide-and-deep computes it. */
function embeddingGradient(): number[] {
  return tf.tidy(() => {
    const table = tf.variable(
      tf.tensor2d([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.8, -0.9, 1.0], [5, 2]),
    );
    const ids = tf.tensor1d([3, 1, 3, 0, 4, 3], 'int32');
    const weights = tf.tensor2d([[1.5], [-2]]);
    const { grads } = tf.variableGrads(
      () => tf.gather(table, ids).matMul(weights).square().mean() as tf.Scalar,
      [table],
    );
    const grad = grads[table.name]!;
    const values = Array.from(grad.dataSync());
    table.dispose();
    return values;
  });
}

describe('UnsortedSegmentSum on WASM', () => {
  beforeAll(async () => {
    await selectBackend(silent, { force: 'cpu' });
  });

  it('gives the embedding gradient of the CPU backend, without leaking tensors', async () => {
    const onCpu = embeddingGradient();
    expect(await selectBackend(silent, { force: 'wasm' })).toBe('wasm');
    expect(registerWasmSegmentSum()).toBe(true);
    const before = tf.memory().numTensors;
    const onWasm = embeddingGradient();
    expect(tf.memory().numTensors).toBe(before);
    expect(onWasm.length).toBe(10);
    onWasm.forEach((value, i) => expect(value).toBeCloseTo(onCpu[i]!, 6));
    // row 2 is never looked up: its gradient is exactly zero
    expect(onWasm[4]).toBe(0);
    expect(onWasm[5]).toBe(0);
    expect(onWasm.some((value) => value !== 0)).toBe(true);
  });
});
