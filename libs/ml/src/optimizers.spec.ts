import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptimizerSettings, optimizerSettingsSchema } from '@dln/contracts';
import { createOptimizer } from './optimizers';
import { decodeOptimizerState, encodeOptimizerState } from './optimizer-state';
import { mulberry32 } from './random';

const SIZE = 2000;
const STEPS = 6;

function series(seed: number, scale: number): Float32Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: STEPS }, () =>
    Float32Array.from({ length: SIZE }, () => (random() * 2 - 1) * scale),
  );
}

function withTfjs(
  settings: OptimizerSettings,
  initial: Float32Array,
  gradients: Float32Array[],
): Float32Array {
  const optimizer =
    settings.kind === 'sgd'
      ? tf.train.sgd(settings.learningRate)
      : settings.kind === 'momentum'
        ? tf.train.momentum(settings.learningRate, settings.momentum, settings.nesterov)
        : tf.train.adam(settings.learningRate, settings.beta1, settings.beta2, settings.epsilon);
  const variable = tf.variable(tf.tensor1d(initial));
  for (const g of gradients) {
    const grad = tf.tensor1d(g);
    optimizer.applyGradients([{ name: variable.name, tensor: grad }]);
    grad.dispose();
  }
  const result = variable.dataSync().slice() as Float32Array;
  variable.dispose();
  optimizer.dispose();
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i += 1)
    max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

const settingsList: OptimizerSettings[] = [
  { kind: 'sgd', learningRate: 0.1 },
  optimizerSettingsSchema.parse({ kind: 'momentum', learningRate: 0.05 }),
  optimizerSettingsSchema.parse({
    kind: 'momentum',
    learningRate: 0.05,
    momentum: 0.8,
    nesterov: true,
  }),
  optimizerSettingsSchema.parse({ kind: 'adam', learningRate: 0.01 }),
  optimizerSettingsSchema.parse({
    kind: 'adam',
    learningRate: 0.003,
    beta1: 0.8,
    beta2: 0.99,
    epsilon: 1e-4,
  }),
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('flat optimizers', () => {
  for (const settings of settingsList) {
    it(`match tfjs's ${JSON.stringify(settings)} on the same gradients within 1e-6`, () => {
      const initial = series(1, 1)[0]!;
      const gradients = series(2, 0.5);
      const params = initial.slice();
      const optimizer = createOptimizer(settings, SIZE);
      for (const g of gradients) optimizer.apply(params, g);
      const expected = withTfjs(settings, initial, gradients);
      expect(maxAbsDiff(params, expected)).toBeLessThan(1e-6);
      expect(maxAbsDiff(params, initial)).toBeGreaterThan(1e-3);
    });
  }

  it('continue from a snapshot exactly as without the interruption', () => {
    const settings = settingsList[3]!;
    const gradients = series(3, 1);
    const straight = series(4, 1)[0]!;
    const resumed = straight.slice();
    const one = createOptimizer(settings, SIZE);
    for (const g of gradients) one.apply(straight, g);
    const first = createOptimizer(settings, SIZE);
    gradients.slice(0, 2).forEach((g) => first.apply(resumed, g));
    const state = first.snapshot();
    expect(state.step).toBe(2);
    const second = createOptimizer(settings, SIZE, state);
    gradients.slice(2).forEach((g) => second.apply(resumed, g));
    expect(Array.from(resumed)).toEqual(Array.from(straight));
    state.slots['m']![0] = 123;
    expect(second.snapshot().slots['m']![0]).not.toBe(123);
  });

  for (const settings of settingsList) {
    it(`${settings.kind}: a weighted update of 1, 2 or 3 gradients equals one of their weighted sum`, () => {
      const parts = series(5, 0.5).slice(0, 3);
      const weights = [0.5, 0.3125, 0.1875];
      for (const count of [1, 2, 3]) {
        const used = parts.slice(0, count);
        const total = weights.slice(0, count).reduce((sum, w) => sum + w, 0);
        const scaled = weights.slice(0, count).map((w) => w / total);
        const summed = new Float64Array(SIZE);
        used.forEach((part, k) =>
          part.forEach((g, i) => (summed[i] = (summed[i] as number) + scaled[k]! * g)),
        );
        const fused = series(6, 1)[0]!;
        const plain = fused.slice();
        const a = createOptimizer(settings, SIZE);
        const b = createOptimizer(settings, SIZE);
        for (let step = 0; step < 3; step += 1) {
          a.applyWeighted(fused, used, scaled);
          b.apply(plain, Float32Array.from(summed));
        }
        expect(maxAbsDiff(fused, plain)).toBeLessThan(1e-6);
        expect(a.snapshot().step).toBe(3);
      }
    });
  }

  it('a single gradient of weight 1 updates exactly as apply does', () => {
    const settings = settingsList[3]!;
    const g = series(7, 1);
    const viaApply = series(8, 1)[0]!;
    const viaWeighted = viaApply.slice();
    const a = createOptimizer(settings, SIZE);
    const b = createOptimizer(settings, SIZE);
    for (const part of g) {
      a.apply(viaApply, part);
      b.applyWeighted(viaWeighted, [part], [1]);
    }
    expect(Array.from(viaWeighted)).toEqual(Array.from(viaApply));
  });

  it('refuses mismatched sizes and states', () => {
    const adam = createOptimizer(settingsList[3]!, 4);
    expect(() => adam.apply(new Float32Array(4), new Float32Array(3))).toThrow(
      /got 4 parameters and 3 gradients/,
    );
    expect(() =>
      adam.applyWeighted(new Float32Array(4), [new Float32Array(4)], [0.5, 0.5]),
    ).toThrow(/1 gradients with 2 weights/);
    expect(() => adam.applyWeighted(new Float32Array(4), [], [])).toThrow(/0 gradients/);
    expect(() => createOptimizer(settingsList[0]!, 4, adam.snapshot())).toThrow(
      /state is for adam/,
    );
    expect(() => createOptimizer(settingsList[3]!, 5, adam.snapshot())).toThrow(
      /has 4 values, expected 5/,
    );
  });
});

describe('optimizer state blobs', () => {
  it('round-trip through bytes', () => {
    const optimizer = createOptimizer(settingsList[3]!, 5);
    optimizer.apply(new Float32Array(5), Float32Array.from([1, -2, 3, -4, 5]));
    const state = optimizer.snapshot();
    const back = decodeOptimizerState(encodeOptimizerState(state));
    expect(back.kind).toBe('adam');
    expect(back.step).toBe(1);
    expect(Array.from(back.slots['v']!)).toEqual(Array.from(state.slots['v']!));
    const sgd = decodeOptimizerState(
      encodeOptimizerState(createOptimizer(settingsList[0]!, 5).snapshot()),
    );
    expect(sgd).toEqual({ kind: 'sgd', step: 0, slots: {} });
  });
});
