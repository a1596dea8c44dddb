import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema } from '@dln/contracts';
import { selectBackend } from './backend';
import { buildModel } from './model-builder';
import { predictBatch } from './gradients';
import { denseBinarySchema, syntheticBinaryBatch } from './reference-fixtures';
import {
  describeVariables,
  packShard,
  planParameterLayout,
  readWeights,
  unpackShard,
  VariableInfo,
  writeWeights,
} from './variables';

const vars = (specs: [string, number][]): VariableInfo[] => {
  let offset = 0;
  return specs.map(([name, size]) => {
    const info = { name, shape: [size], size, offset };
    offset += size;
    return info;
  });
};

beforeAll(async () => {
  await selectBackend({ log: () => undefined, warn: () => undefined }, { force: 'wasm' });
});

describe('parameter layout', () => {
  it('puts the largest variable first on the least loaded shard, ties by name', () => {
    const layout = planParameterLayout(
      vars([
        ['a/kernel', 100],
        ['a/bias', 10],
        ['b/kernel', 60],
        ['b/bias', 10],
        ['c/kernel', 50],
      ]),
      2,
    );
    const shardOf = Object.fromEntries(layout.variables.map((v) => [v.name, v.shard]));
    // 100 -> 0; 60 -> 1; 50 -> 1 (60 < 100); a/bias 10 -> 0 (100 < 110); b/bias 10 -> 0 (110 = 110, lowest index).
    expect(shardOf).toEqual({
      'a/kernel': 0,
      'b/kernel': 1,
      'c/kernel': 1,
      'a/bias': 0,
      'b/bias': 0,
    });
    expect(layout.shardSizes).toEqual([120, 110]);
    expect(layout.totalSize).toBe(230);
    // Shard offsets follow the global variable order within each shard.
    expect(layout.variables.map((v) => [v.name, v.shardOffset])).toEqual([
      ['a/kernel', 0],
      ['a/bias', 100],
      ['b/kernel', 0],
      ['b/bias', 110],
      ['c/kernel', 60],
    ]);
    const shuffled = planParameterLayout(
      vars([
        ['c/kernel', 50],
        ['b/bias', 10],
        ['a/bias', 10],
        ['b/kernel', 60],
        ['a/kernel', 100],
      ]),
      2,
    );
    expect(Object.fromEntries(shuffled.variables.map((v) => [v.name, v.shard]))).toEqual(shardOf);
  });

  it('packs and unpacks shards back into the same full vector', () => {
    const layout = planParameterLayout(
      vars([
        ['a', 7],
        ['b', 3],
        ['c', 5],
        ['d', 1],
      ]),
      3,
    );
    const full = Float32Array.from({ length: 16 }, (_, i) => i + 0.5);
    const rebuilt = new Float32Array(16);
    for (let shard = 0; shard < 3; shard += 1) {
      const packed = packShard(layout, shard, full);
      expect(packed.length).toBe(layout.shardSizes[shard]);
      unpackShard(layout, shard, packed, rebuilt);
    }
    expect(Array.from(rebuilt)).toEqual(Array.from(full));
    expect(() => packShard(layout, 3, full)).toThrow(/shard 3 does not exist/);
    expect(() => unpackShard(layout, 0, new Float32Array(1), rebuilt)).toThrow(/expected 7/);
    expect(() => planParameterLayout(vars([['a', 1]]), 0)).toThrow(/positive integer/);
  });

  it('lays out a real model over more shards than variables without losing any', () => {
    const model = buildModel(
      modelSpecSchema.parse({ kind: 'mlp', hidden: [3] }),
      denseBinarySchema(2),
      1,
    );
    const layout = planParameterLayout(describeVariables(model), 6);
    expect(layout.shardSizes.filter((size) => size > 0)).toHaveLength(4);
    expect(layout.shardSizes.reduce((a, b) => a + b)).toBe(2 * 3 + 3 + 3 + 1);
    model.dispose();
  });
});

describe('reading and writing weights on WASM', () => {
  it('writes a flat vector with assign so that predictions change accordingly', () => {
    const schema = denseBinarySchema(4);
    const spec = modelSpecSchema.parse({ kind: 'mlp', hidden: [5] });
    const a = buildModel(spec, schema, 1);
    const b = buildModel(spec, schema, 2);
    const batch = syntheticBinaryBatch(16, 4, 9);
    expect(Array.from(predictBatch(b, batch))).not.toEqual(Array.from(predictBatch(a, batch)));
    const before = tf.memory().numTensors;
    writeWeights(b, readWeights(a));
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(readWeights(b))).toEqual(Array.from(readWeights(a)));
    expect(Array.from(predictBatch(b, batch))).toEqual(Array.from(predictBatch(a, batch)));
    expect(() => writeWeights(b, new Float32Array(3))).toThrow(/has 3 values, the model has 31/);
    a.dispose();
    b.dispose();
  });
});
