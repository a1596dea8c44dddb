import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeExample,
  EvaluationMetrics,
  modelSpecSchema,
  RecordHeader,
  RoleConfig,
  RoleReport,
  roleReportSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { denseBinarySchema, ExampleBatch, selectBackend, trainReference } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import {
  parameterLayoutFor,
  splitByWorker,
  stepsPerEpoch,
  syntheticExamples,
  toEvaluationMetrics,
  WorkerResult,
} from '@dln/training';
import { serveEpochGate } from './gate-service';
import { runPsRole } from './roles/ps-role';
import { RoleRuntime } from './roles/role-runtime';
import { runWorkerRole } from './roles/worker-role';

const root = uniqueRoot('parity');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const version = 1;
const WIDTH = 16;
const schema = denseBinarySchema(WIDTH);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [32, 16] });
const train = syntheticExamples(8000, WIDTH, 101, 't');
const validation = syntheticExamples(2000, WIDTH, 202, 'v');
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

function rows(batch: ExampleBatch, row: number) {
  return {
    dense: batch.dense.subarray(row * batch.denseWidth, (row + 1) * batch.denseWidth),
    ids: new Int32Array(0),
    label: batch.labels[row] as number,
  };
}

async function publishSplit(
  nc: NatsConnection,
  split: 'train' | 'validation',
  data: ReturnType<typeof syntheticExamples>,
) {
  const subject = subjects.examples(pipeline, version, split);
  await publishAll(
    jetStreamOf(nc),
    data.recordIds.map((recordId, row) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, recordId);
      return { subject, data: encodeExample(rows(data.batch, row)), headers };
    }),
  );
}

interface ClusterRun {
  metrics: EvaluationMetrics;
  reports: RoleReport[];
}

async function runCluster(
  jobId: string,
  workers: number,
  shards: number,
  updateMode: 'sync' | 'async',
): Promise<ClusterRun> {
  const training = settings(updateMode);
  const layout = parameterLayoutFor(model, schema, shards);
  const config = (kind: 'worker' | 'ps', index: number): RoleConfig => ({
    token: { jobId, generation: 0, role: `${kind}-${index}`, attempt: 0 },
    kind,
    index,
    subjectRoot: root,
    jobName: 'parity',
    workers,
    shards,
    model,
    training,
    outputSchema: schema,
    parameters: layout,
    examples: {
      pipeline,
      version,
      trainCount: train.recordIds.length,
      validationCount: validation.recordIds.length,
    },
    restoreFrom: null,
    outputModel: 'parity',
  });
  const observer = await connectNats({ servers: TEST_NATS_URL, name: `${jobId}-observer` });
  const reports: RoleReport[] = [];
  observer.subscribe(subjects.jobReports(jobId), {
    callback: (_e, msg) => {
      reports.push(roleReportSchema.parse(decodeJson(msg.data)));
    },
  });
  const gate = serveEpochGate(observer, subjects, jobId, { workers, epochs: training.epochs });
  const stop = new AbortController();
  const runtime = async (name: string): Promise<RoleRuntime> => ({
    nc: await connectNats({ servers: TEST_NATS_URL, name }),
    signal: stop.signal,
    ready: quiet,
    log: quiet,
  });
  const psRuntimes = await Promise.all(
    Array.from({ length: shards }, (_, i) => runtime(`${jobId}-ps-${i}`)),
  );
  const psRuns = psRuntimes.map((rt, i) => runPsRole(config('ps', i), rt));
  const results: WorkerResult[] = [];
  const workerRuntimes = await Promise.all(
    Array.from({ length: workers }, (_, i) => runtime(`${jobId}-worker-${i}`)),
  );
  try {
    await Promise.all(
      workerRuntimes.map((rt, i) =>
        runWorkerRole(
          config('worker', i),
          { ...rt, signal: new AbortController().signal },
          { exportModel: false, onResult: (r) => (results[i] = r) },
        ),
      ),
    );
  } finally {
    stop.abort();
    await Promise.all(psRuns);
    await gate.close();
    for (const rt of [...psRuntimes, ...workerRuntimes]) await rt.nc.drain();
    await observer.flush();
    await observer.drain();
  }
  const metrics = results[0]?.metrics;
  if (!metrics) throw new Error('worker 0 returned no metrics');
  return { metrics, reports };
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
    await publishSplit(nc, 'train', train);
    await publishSplit(nc, 'validation', validation);
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
    const { metrics, reports } = await runCluster('sync-w2-ps1', 2, 1, 'sync');
    expect(Math.abs(metrics.loss - reference.loss) / reference.loss).toBeLessThan(0.01);
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.005);
    const types = new Set(reports.map((r) => r.type));
    for (const type of ['started', 'progress', 'evaluation', 'checkpoint', 'finished'])
      expect(types).toContain(type);
    const checkpoints = reports.filter((r) => r.type === 'checkpoint');
    const steps =
      5 *
      stepsPerEpoch(
        splitByWorker(train.recordIds, 2).map((part) => part.length),
        64,
      );
    const expected = Array.from({ length: Math.floor(steps / 100) }, (_, i) => 100 * (i + 1));
    expect(expected.length).toBeGreaterThan(0);
    expect(checkpoints.map((r) => r.type === 'checkpoint' && r.step)).toEqual(expected);
  });

  it('sync, 2 workers + 2 ps: within 1% validation loss and 0.005 AUC', async () => {
    const { metrics } = await runCluster('sync-w2-ps2', 2, 2, 'sync');
    expect(Math.abs(metrics.loss - reference.loss) / reference.loss).toBeLessThan(0.01);
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.005);
  });

  it('async, 2 workers + 1 ps: within 0.01 AUC', async () => {
    const { metrics } = await runCluster('async-w2-ps1', 2, 1, 'async');
    expect(Math.abs(metrics.auc! - reference.auc!)).toBeLessThan(0.01);
  });
});
