import { beforeAll, describe, expect, it } from 'vitest';
import { FencingToken, modelSpecSchema, RoleReport, trainingSettingsSchema } from '@dln/contracts';
import { denseBinarySchema, gatherRows, packShard, selectBackend, trainReference } from '@dln/ml';
import { BarrierGate, LocalShardClient } from './local-cluster';
import { initialParameters, parameterLayoutFor } from './model-setup';
import { PsShard } from './ps-shard';
import { splitByWorker } from './split';
import { toEvaluationMetrics } from './evaluate';
import { syntheticExamples } from './synthetic';
import { WorkerLoop, WorkerResult } from './worker-loop';

const schema = denseBinarySchema(8);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [16, 8] });
const data = syntheticExamples(700, 8, 11);
const validation = syntheticExamples(300, 8, 12, 'v').batch;

async function runCluster(
  workers: number,
  shards: number,
  mode: 'sync' | 'async',
  pullWithPush = true,
) {
  const training = trainingSettingsSchema.parse({
    epochs: 2,
    batchSize: 32,
    optimizer: { kind: 'adam', learningRate: 0.01 },
    updateMode: mode,
    seed: 5,
  });
  const layout = parameterLayoutFor(model, schema, shards);
  const initial = initialParameters(model, schema, training.seed);
  const token = (role: string): FencingToken => ({
    jobId: 'job1',
    generation: 0,
    role,
    attempt: 0,
  });
  const psShards = Array.from(
    { length: shards },
    (_, shard) =>
      new PsShard({
        token: token(`ps-${shard}`),
        shard,
        workers,
        mode,
        optimizer: training.optimizer,
        params: packShard(layout, shard, initial),
      }),
  );
  const splits = splitByWorker(data.recordIds, workers);
  const parts = splits.map((positions) => gatherRows(data.batch, positions));
  const gate = new BarrierGate(workers);
  const reports: RoleReport[] = [];
  const results: WorkerResult[] = await Promise.all(
    parts.map((train, index) =>
      new WorkerLoop({
        token: token(`worker-${index}`),
        index,
        workers,
        model,
        schema,
        training,
        layout,
        train,
        partSizes: parts.map((part) => part.size),
        ...(index === 0 ? { validation } : {}),
        client: new LocalShardClient(token(`worker-${index}`), psShards),
        gate: gate.forWorker(),
        report: (report) => reports.push(report),
        pullWithPush,
      }).run(),
    ),
  );
  const trained = trainReference(data.batch, {
    spec: model,
    schema,
    settings: training,
    splits,
    validation,
  });
  const metrics = toEvaluationMetrics(trained.history.at(-1)!.validation!);
  trained.model.dispose();
  return { results, reference: { params: trained.parameters, metrics }, reports, parts };
}

describe('WorkerLoop with PsShards in one process', () => {
  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
  });

  it.each([true, false])(
    'sync, 2 workers and 2 shards (parameters with the push reply: %s): the same parameters as the reference loop on the union batches',
    async (pullWithPush) => {
      const { results, reference, reports, parts } = await runCluster(2, 2, 'sync', pullWithPush);
      expect(parts[0]!.size).not.toBe(parts[1]!.size); // uneven parts: a short last batch and a worker out of data
      const params = results[0]!.params!;
      let maxDiff = 0;
      for (let i = 0; i < params.length; i += 1)
        maxDiff = Math.max(maxDiff, Math.abs(params[i]! - reference.params[i]!));
      expect(maxDiff).toBeLessThan(1e-4);
      expect(Math.abs(results[0]!.metrics!.loss - reference.metrics!.loss)).toBeLessThan(1e-4);
      expect(reference.metrics!.auc!).toBeGreaterThan(0.7);
      expect(results[0]!.examples + results[1]!.examples).toBe(2 * 700);
      expect(
        reports
          .filter((r) => r.type === 'evaluation')
          .map((r) => r.type === 'evaluation' && r.epoch),
      ).toEqual([0, 1]);
      expect(reports.some((r) => r.type === 'progress' && r.token.role === 'worker-1')).toBe(true);
    },
  );

  it('async, 2 workers and 1 shard: converges to the quality of the reference loop', async () => {
    const { results, reference } = await runCluster(2, 1, 'async');
    expect(Math.abs(results[0]!.metrics!.auc! - reference.metrics!.auc!)).toBeLessThan(0.02);
  });
});
