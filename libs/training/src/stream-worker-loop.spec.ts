import { beforeAll, describe, expect, it } from 'vitest';
import {
  FencingToken,
  modelSpecSchema,
  RoleReport,
  streamJobSettingsSchema,
  trainingSettingsSchema,
} from '@dln/contracts';
import { denseBinarySchema, packShard, selectBackend } from '@dln/ml';
import { initialParameters, parameterLayoutFor } from './model-setup';
import { PsShard } from './ps-shard';
import { decodeShardState, encodeShardState } from './shard-checkpoint';
import { SequenceSet, StreamBatches } from './stream-batches';
import { LocalStreamShardClient } from './stream-source';
import { StreamExport, StreamWorkerLoop, StreamWorkerResult } from './stream-worker-loop';
import { syntheticExamples } from './synthetic';
import { MemoryConsumer } from './testing-stream';

const schema = denseBinarySchema(8);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [16] });
const training = trainingSettingsSchema.parse({
  epochs: 1,
  batchSize: 32,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  updateMode: 'async',
  seed: 5,
});
const token = (role: string): FencingToken => ({ jobId: 'sjob', generation: 0, role, attempt: 0 });

interface StreamRun {
  results: StreamWorkerResult[];
  exports: StreamExport[];
  reports: RoleReport[];
  shards: PsShard[];
  batches: StreamBatches[];
  consumer: MemoryConsumer;
}

async function runStream(
  workers: number,
  shardCount: number,
  count: number,
  prepare: (consumer: MemoryConsumer) => void = () => undefined,
): Promise<StreamRun> {
  const data = syntheticExamples(count, 8, 21);
  const consumer = new MemoryConsumer(data.batch, 4);
  prepare(consumer);
  const layout = parameterLayoutFor(model, schema, shardCount);
  const initial = initialParameters(model, schema, training.seed);
  const shards = Array.from(
    { length: shardCount },
    (_, shard) =>
      new PsShard({
        token: token(`ps-${shard}`),
        shard,
        workers,
        mode: 'async',
        optimizer: training.optimizer,
        params: packShard(layout, shard, initial),
      }),
  );
  const batches = shards.map((shard) => new StreamBatches(shard));
  const settings = streamJobSettingsSchema.parse({
    exportEvery: { steps: 10 },
    progressiveWindow: 300,
  });
  const stop = new AbortController();
  const exports: StreamExport[] = [];
  const reports: RoleReport[] = [];
  const watcher = setInterval(() => {
    if (consumer.drained) stop.abort();
  }, 5);
  try {
    const results = await Promise.all(
      Array.from({ length: workers }, (_, index) =>
        new StreamWorkerLoop({
          token: token(`worker-${index}`),
          index,
          model,
          schema,
          training,
          layout,
          settings,
          source: consumer.source(),
          client: new LocalStreamShardClient(token(`worker-${index}`), shards, batches),
          report: (report) => reports.push(report),
          signal: stop.signal,
          progressEveryMs: 0,
          ...(index === 0
            ? {
                exporter: async (exported: StreamExport) => {
                  exports.push(exported);
                },
              }
            : {}),
        }).run(),
      ),
    );
    return { results, exports, reports, shards, batches, consumer };
  } finally {
    clearInterval(watcher);
  }
}

describe('StreamWorkerLoop', () => {
  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined }, { force: 'cpu' });
  });

  it('trains 2 workers on a shared consumer: every example taken once, acked, progressive loss falls', async () => {
    const run = await runStream(2, 2, 3000);
    expect(run.consumer.ackCounts.size).toBe(3000);
    expect([...run.consumer.ackCounts.values()].every((times) => times === 1)).toBe(true);
    for (const batches of run.batches) expect(batches.sequences).toBe(3000);
    const steps = run.results.reduce((sum, r) => sum + r.steps, 0);
    for (const shard of run.shards) expect(shard.updateCount).toBe(steps);
    expect(run.results.reduce((sum, r) => sum + r.examples, 0)).toBe(3000);
    expect(run.results.every((r) => r.duplicates === 0)).toBe(true);
    // Worker 0 exported every 10 of its steps, with the progressive metrics and the snapshot.
    expect(run.exports.length).toBeGreaterThanOrEqual(2);
    const first = run.exports[0] as StreamExport;
    const last = run.exports[run.exports.length - 1] as StreamExport;
    expect(first.pipelineVersion).toBe(4);
    expect(last.finite).toBe(true);
    expect(last.metrics?.examples).toBe(300);
    expect(last.metrics?.loss).toBeLessThan((first.metrics?.loss as number) - 0.03);
    const progress = run.reports.filter((r) => r.type === 'progress');
    expect(progress.length).toBeGreaterThan(10);
  }, 120_000);

  it('recognises a redelivered batch: pushed again one by one, applied once, acked', async () => {
    // The acks of two fetches are lost (the worker "died" after pushing): 64 messages come back.
    const run = await runStream(1, 2, 640, (consumer) => consumer.loseAcks(2));
    const [result] = run.results as [StreamWorkerResult];
    expect(result.duplicates).toBe(64 * 2);
    expect(run.consumer.ackCounts.size).toBe(640);
    for (const batches of run.batches) {
      expect(batches.sequences).toBe(640);
      expect(batches.rangeCount).toBe(1);
    }
    // 20 fresh batches applied; the 64 single re-pushes applied nothing.
    for (const shard of run.shards) expect(shard.updateCount).toBe(20);
    expect(result.steps).toBe(20 + 64);
    expect(result.examples).toBe(640);
  }, 120_000);
});

describe('StreamBatches', () => {
  it('keeps merged ranges and counts what it holds', () => {
    const set = new SequenceSet();
    set.add([[5, 9]]);
    set.add([
      [1, 2],
      [11, 12],
    ]);
    expect(set.rangeCount).toBe(3);
    set.add([
      [3, 4],
      [10, 10],
    ]);
    expect(set.rangeCount).toBe(1);
    expect(set.size).toBe(12);
    expect(set.countIn([[10, 20]])).toBe(3);
    set.remove([[4, 6]]);
    expect(set.size).toBe(9);
    expect(set.countIn([[1, 12]])).toBe(9);
    expect(set.rangeCount).toBe(2);
  });

  it('applies a new batch once, answers a copy as duplicate, refuses a partial overlap', async () => {
    const shard = new PsShard({
      token: token('ps-0'),
      shard: 0,
      workers: 2,
      mode: 'async',
      optimizer: { kind: 'sgd', learningRate: 1 },
      params: new Float32Array([1, 1]),
    });
    const batches = new StreamBatches(shard);
    const gradient = new Float32Array([0.5, 0.5]);
    const w0 = token('worker-0');
    const w1 = token('worker-1');
    expect((await batches.push(w0, 0, 2, gradient, [[1, 2]])).duplicate).toBe(false);
    const again = await batches.push(w1, 0, 2, gradient, [[1, 2]]);
    expect(again).toMatchObject({ duplicate: true, updateCount: 1 });
    await expect(batches.push(w1, 1, 2, gradient, [[2, 3]])).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    // A fenced push is not remembered: the batch stays new.
    await expect(
      batches.push({ ...w0, jobId: 'other' }, 1, 1, gradient, [[3, 3]]),
    ).rejects.toMatchObject({ code: 'FENCED' });
    expect((await batches.push(w1, 1, 1, gradient, [[3, 3]])).duplicate).toBe(false);
    expect(shard.updateCount).toBe(2);
    expect(Array.from(await shard.pull(w0, 0))).toEqual([0, 0]);
    expect(batches.sequences).toBe(3);
  });

  it('checkpoints its applied sequences: a restored shard answers a batch applied before as duplicate', async () => {
    const settings = { kind: 'sgd', learningRate: 1 } as const;
    const shard = new PsShard({
      token: token('ps-0'),
      shard: 0,
      workers: 1,
      mode: 'async',
      optimizer: settings,
      params: new Float32Array([1, 1]),
    });
    const batches = new StreamBatches(shard);
    const gradient = new Float32Array([0.25, 0.25]);
    const w0 = token('worker-0');
    const high = 2 ** 40 + 5; // beyond float32's exact integers: stored split in two
    await batches.push(w0, 0, 2, gradient, [[1, 2]]);
    await batches.push(w0, 1, 1, gradient, [[5, 5]]);
    await batches.push(w0, 2, 2, gradient, [[high, high + 1]]);
    const bytes = encodeShardState(shard.snapshot());
    const state = decodeShardState(bytes, settings);
    expect(state.streamSequences).toEqual([
      [1, 2],
      [5, 5],
      [high, high + 1],
    ]);
    const restored = new PsShard({
      token: token('ps-0'),
      shard: 0,
      workers: 1,
      mode: 'async',
      optimizer: settings,
      restore: state,
    });
    const again = new StreamBatches(restored);
    expect(again.sequences).toBe(5);
    const redelivered = await again.push(w0, 1, 1, gradient, [[5, 5]]);
    expect(redelivered).toMatchObject({ duplicate: true, updateCount: 3 });
    expect((await again.push(w0, 3, 1, gradient, [[3, 4]])).duplicate).toBe(false);
    expect(Array.from(await restored.pull(w0, 0))).toEqual([0, 0]);
    // A batch job's checkpoint has no stream sequences, and restores none.
    const plain = decodeShardState(
      encodeShardState({ ...shard.snapshot(), streamSequences: [] }),
      settings,
    );
    expect(plain.streamSequences).toBeUndefined();
  });
});
