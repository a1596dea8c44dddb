import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EvaluationMetrics,
  modelSpecSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import { connectNats, ensureStream, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { denseBinarySchema, selectBackend, trainReference } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import {
  splitByWorker,
  stepsPerEpoch,
  syntheticExamples,
  toEvaluationMetrics,
} from '@dln/training';
import { publishExamples, runRoleCluster } from './testing/role-cluster';

const root = uniqueRoot('parity');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const WIDTH = 16;
const schema = denseBinarySchema(WIDTH);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [32, 16] });
const train = syntheticExamples(8000, WIDTH, 101, 't');
const validation = syntheticExamples(2000, WIDTH, 202, 'v');
const examples = { pipeline, version: 1, trainCount: 8000, validationCount: 2000 };
const quiet = (): void => undefined;

function settings(updateMode: 'sync' | 'async') {
  return trainingSettingsSchema.parse({
    epochs: 5,
    batchSize: 64,
    optimizer: { kind: 'adam', learningRate: 0.01 },
    updateMode,
    seed: 7,
    checkpointEvery: 100,
  });
}

async function finalMetrics(
  jobId: string,
  workers: number,
  shards: number,
  mode: 'sync' | 'async',
) {
  const run = await runRoleCluster({
    natsUrl: TEST_NATS_URL,
    root,
    jobId,
    workers,
    shards,
    model,
    schema,
    training: settings(mode),
    examples,
  });
  const metrics = run.results[0]?.metrics;
  if (!metrics) throw new Error('worker 0 returned no metrics');
  return { metrics, reports: run.reports };
}

describe('distributed training matches single-process training (real NATS)', () => {
  let nc: NatsConnection;
  let reference: EvaluationMetrics;

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'parity-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishExamples(nc, subjects.examples(pipeline, 1, 'train'), train);
    await publishExamples(nc, subjects.examples(pipeline, 1, 'validation'), validation);
    const splits = splitByWorker(train.recordIds, 2);
    const trained = trainReference(train.batch, {
      spec: model,
      schema,
      settings: settings('sync'),
      splits,
      validation: validation.batch,
    });
    trained.model.dispose();
    reference = toEvaluationMetrics(trained.history.at(-1)!.validation!);
    expect(reference.auc!).toBeGreaterThan(0.75);
  });

  afterAll(async () => {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  it('sync, 2 workers + 1 ps: within 1% validation loss and 0.005 AUC; checkpoints reported', async () => {
    const { metrics, reports } = await finalMetrics('sync-w2-ps1', 2, 1, 'sync');
    expect(Math.abs(metrics.loss - reference.loss) / reference.loss).toBeLessThan(0.01);
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.005);
    const types = new Set(reports.map((r) => r.type));
    for (const type of ['started', 'progress', 'evaluation', 'checkpoint', 'finished'])
      expect(types).toContain(type);
    const steps =
      5 *
      stepsPerEpoch(
        splitByWorker(train.recordIds, 2).map((part) => part.length),
        64,
      );
    const expected = Array.from({ length: Math.floor(steps / 100) }, (_, i) => 100 * (i + 1));
    expect(expected.length).toBeGreaterThan(0);
    expect(reports.flatMap((r) => (r.type === 'checkpoint' ? [r.step] : []))).toEqual(expected);
  });

  it('sync, 2 workers + 2 ps: within 1% validation loss and 0.005 AUC', async () => {
    const { metrics } = await finalMetrics('sync-w2-ps2', 2, 2, 'sync');
    expect(Math.abs(metrics.loss - reference.loss) / reference.loss).toBeLessThan(0.01);
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.005);
  });

  it('async, 2 workers + 1 ps: within 0.01 AUC', async () => {
    const { metrics } = await finalMetrics('async-w2-ps1', 2, 1, 'async');
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.01);
  });
});
