import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import { buildModel } from './model-builder';
import { computeGradients } from './gradients';
import { readWeights, writeWeights } from './variables';
import { denseBinarySchema, REFERENCE_MLP, syntheticBinaryBatch } from './reference-fixtures';
import { isWasmMatMulPatched, patchWasmMatMul, unpatchWasmMatMul } from './wasm-matmul';

const quiet = { log: () => undefined, warn: () => undefined };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i += 1)
    max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function onBackend<T>(name: string, run: () => T): T {
  const previous = tf.getBackend();
  tf.setBackend(name).catch(() => undefined);
  expect(tf.getBackend()).toBe(name);
  try {
    return run();
  } finally {
    tf.setBackend(previous).catch(() => undefined);
  }
}

beforeAll(async () => {
  await selectBackend(quiet, { force: 'wasm' });
  await tf.setBackend('cpu');
});

describe('patched WASM matmul', () => {
  it('is installed by backend selection and is idempotent', () => {
    expect(isWasmMatMulPatched()).toBe(true);
    const patched = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
    unpatchWasmMatMul();
    const stock = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
    expect(stock).toBeDefined();
    expect(stock).not.toBe(patched);
    expect(patchWasmMatMul()).toBe(true);
    expect(patchWasmMatMul()).toBe(true);
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc).not.toBe(stock);
  });

  it('multiplies with every transpose combination like the CPU backend, without leaking', () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[7, 5], [5, 3], false, false],
      [[5, 7], [5, 3], true, false],
      [[7, 5], [3, 5], false, true],
      [[5, 7], [3, 5], true, true],
      [[2, 5, 7], [2, 3, 5], true, true],
      [[1, 4], [3, 4], false, true],
    ];
    for (const [aShape, bShape, transposeA, transposeB] of cases) {
      const a = Float32Array.from({ length: aShape.reduce((x, y) => x * y) }, (_, i) =>
        Math.sin(i),
      );
      const b = Float32Array.from({ length: bShape.reduce((x, y) => x * y) }, (_, i) =>
        Math.cos(i),
      );
      const run = () => {
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => {
          const product = tf.matMul(
            tf.tensor(a, aShape),
            tf.tensor(b, bShape),
            transposeA,
            transposeB,
          );
          const fused = tf.fused.matMul({
            a: tf.tensor(a, aShape),
            b: tf.tensor(b, bShape),
            transposeA,
            transposeB,
            bias: tf.fill([bShape[bShape.length - (transposeB ? 2 : 1)]!], 0.25),
            activation: 'relu',
          });
          return tf.concat([product.flatten(), fused.flatten()]);
        });
        const values = out.dataSync().slice();
        out.dispose();
        expect(tf.memory().numTensors).toBe(before);
        return values;
      };
      const cpu = onBackend('cpu', run);
      const wasm = onBackend('wasm', run);
      expect(maxAbsDiff(wasm, cpu)).toBeLessThan(1e-5);
    }
  });

  it('gives reference-MLP gradients equal to the CPU backend within 1e-5', () => {
    const schema = denseBinarySchema(64);
    const batch = syntheticBinaryBatch(256, 64, 3);
    const gradientsOn = (name: string, weights?: Float32Array) =>
      onBackend(name, () => {
        const model = buildModel(REFERENCE_MLP, schema, 7);
        const initial = readWeights(model);
        if (weights) writeWeights(model, weights);
        const before = tf.memory().numTensors;
        const first = computeGradients(model, batch, { labelKind: 'binary' });
        const second = computeGradients(model, batch, { labelKind: 'binary' });
        expect(tf.memory().numTensors).toBe(before);
        expect(Array.from(second.gradients)).toEqual(Array.from(first.gradients));
        model.dispose();
        return { initial, ...first };
      });
    const cpu = gradientsOn('cpu');
    const wasm = gradientsOn('wasm', cpu.initial);
    // Seeded initializers draw in JS: the same weights whatever the backend.
    expect(Array.from(wasm.initial)).toEqual(Array.from(cpu.initial));
    expect(cpu.gradients.length).toBe(49_665);
    expect(cpu.exampleCount).toBe(256);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(wasm.gradients, cpu.gradients)).toBeLessThan(1e-5);
  });
});
