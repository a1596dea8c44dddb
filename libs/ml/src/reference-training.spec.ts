import { beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, trainingSettingsSchema } from '@dln/contracts';
import { selectBackend } from './backend';
import { gatherRows } from './batch';
import { EarlyStopper, epochBatches, roundRobinSplits } from './batching';
import { computeGradients, lossSettingsFor } from './gradients';
import { buildModel } from './model-builder';
import { createOptimizer } from './optimizers';
import { evaluate, trainReference } from './reference-training';
import { denseBinarySchema, syntheticBinaryBatch } from './reference-fixtures';
import {
  describeVariables,
  packShard,
  planParameterLayout,
  readWeights,
  unpackShard,
  writeWeights,
} from './variables';

beforeAll(async () => {
  await selectBackend({ log: () => undefined, warn: () => undefined }, { force: 'wasm' });
});

const schema = denseBinarySchema(8);
const spec = modelSpecSchema.parse({ kind: 'mlp', hidden: [16] });
const settings = trainingSettingsSchema.parse({
  epochs: 3,
  batchSize: 32,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  seed: 9,
});
const train = syntheticBinaryBatch(1200, 8, 1);
const validation = syntheticBinaryBatch(600, 8, 2);

describe('batching', () => {
  it('gives each worker a deterministic shuffle of its whole split, per epoch', () => {
    const split = Array.from({ length: 10 }, (_, i) => i * 3);
    const batches = epochBatches(split, 4, 1, 0, 0);
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(split);
    expect(epochBatches(split, 4, 1, 0, 0)).toEqual(batches);
    expect(epochBatches(split, 4, 1, 1, 0)).not.toEqual(batches);
    expect(epochBatches(split, 4, 1, 0, 1)).not.toEqual(batches);
    expect(roundRobinSplits(5, 2)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
  });

  it('stops early after patience evaluations without improvement', () => {
    const stopper = new EarlyStopper({ metric: 'auc', patience: 1, minDelta: 0.01 });
    expect([0.6, 0.65, 0.655, 0.7, 0.7, 0.701].map((v) => stopper.shouldStop(v))).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
    const loss = new EarlyStopper({ metric: 'loss', patience: 0, minDelta: 0 });
    expect([0.5, 0.4, 0.45].map((v) => loss.shouldStop(v))).toEqual([false, false, true]);
    expect(new EarlyStopper({ metric: 'loss', patience: 5, minDelta: 0 }).shouldStop(NaN)).toBe(
      true,
    );
  });
});

describe('trainReference', () => {
  it('learns the synthetic task and is deterministic', () => {
    const first = trainReference(train, { spec, schema, settings, validation });
    const second = trainReference(train, { spec, schema, settings });
    expect(first.history.map((h) => h.steps)).toEqual([38, 38, 38]);
    expect(first.history[2]!.loss).toBeLessThan(first.history[0]!.loss);
    expect(first.history[2]!.validation!.auc).toBeGreaterThan(0.8);
    expect(Array.from(second.parameters)).toEqual(Array.from(first.parameters));
    expect(evaluate(first.model, validation, schema)).toEqual(first.history[2]!.validation);
    first.model.dispose();
    second.model.dispose();
  });

  it('equals a simulated sync run of 2 workers and 2 ps shards', () => {
    const oneEpoch = { ...settings, epochs: 1 };
    const splits = roundRobinSplits(train.size - 7, 2); // uneven: one worker runs out first
    const reference = trainReference(train, { spec, schema, settings: oneEpoch, splits });

    const worker = buildModel(spec, schema, oneEpoch.seed);
    const layout = planParameterLayout(describeVariables(worker), 2);
    const initial = readWeights(worker);
    const shards = [0, 1].map((shard) => ({
      params: packShard(layout, shard, initial),
      optimizer: createOptimizer(oneEpoch.optimizer, layout.shardSizes[shard]!),
    }));
    const perWorker = splits.map((split, w) =>
      epochBatches(split, oneEpoch.batchSize, oneEpoch.seed, 0, w),
    );
    const loss = lossSettingsFor(spec, schema, oneEpoch);
    for (let step = 0; step < Math.max(...perWorker.map((b) => b.length)); step += 1) {
      const pulled = new Float32Array(layout.totalSize);
      shards.forEach((shard, index) => unpackShard(layout, index, shard.params, pulled));
      writeWeights(worker, pulled);
      const pushes = perWorker.map((batches) =>
        computeGradients(worker, gatherRows(train, batches[step] ?? []), loss),
      );
      shards.forEach((shard, index) => {
        const count = pushes.reduce((sum, push) => sum + push.exampleCount, 0);
        const combined = new Float32Array(layout.shardSizes[index]!);
        for (const push of pushes) {
          const part = packShard(layout, index, push.gradients);
          for (let i = 0; i < combined.length; i += 1)
            combined[i] = combined[i]! + (part[i]! * push.exampleCount) / count;
        }
        shard.optimizer.apply(shard.params, combined);
      });
    }
    const final = new Float32Array(layout.totalSize);
    shards.forEach((shard, index) => unpackShard(layout, index, shard.params, final));
    let maxDiff = 0;
    for (let i = 0; i < final.length; i += 1)
      maxDiff = Math.max(maxDiff, Math.abs(final[i]! - reference.parameters[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
    reference.model.dispose();
    worker.dispose();
  });
});
