import { JobEvent, JobView, ModelVersion, NodeList, Subjects } from '@dln/contracts';
import { connectNats, NatsConnection } from '@dln/messaging';
import { selectBackend } from '@dln/ml';
import { DEFAULT_SERVING_LIMITS, LoadedModel, servableFromBlobs } from '@dln/serving';
import {
  ensureRawStream,
  ok,
  PrivateNatsServer,
  publishRawRecords,
  readPredictions,
  ServiceProcess,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { Objm } from '@nats-io/obj';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  standInForFeatureService,
  SYNTHETIC_PIPELINE,
  syntheticFeatures,
} from './fixtures/synthetic-pipeline';

// Distributed inference across real processes: the am, a parameter-server node and two worker
// nodes built in dist/. A small batch job trains a model version; an inference job then loads it
// into 2 ps shards and has 2 workers score every example of the pipeline version, publishing to
// the model's prediction topic. The test stands in for the feature service only: it writes the
// materialized examples and answers pipelineDescribe.
const PIPELINE = SYNTHETIC_PIPELINE;
const MODEL = 'synthetic';
const TRAIN = 600;
const VALIDATION = 200;
const WIDTH = 3;

describe('an inference job across processes', () => {
  const root = uniqueRoot('inference_job_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-infer-e2e-'));
  const processes: ServiceProcess[] = [];
  let nats: PrivateNatsServer;
  let nc: NatsConnection;
  let am: ServiceProcess;

  const submit = async (body: unknown): Promise<JobView> =>
    ok<JobView>('POST', `${am.url}/v1/jobs`, body);
  const untilEnded = (id: string): Promise<JobView> =>
    waitFor(
      `job ${id} to end`,
      async () => {
        const view = await ok<JobView>('GET', `${am.url}/v1/jobs/${id}`);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(view.state) ? view : undefined;
      },
      300_000,
      250,
    );

  /** Version 1 as the prediction service loads it: from its catalogued blobs. */
  async function servedModel(): Promise<LoadedModel> {
    const versions = (
      await ok<{ versions: ModelVersion[] }>('GET', `${am.url}/v1/models/${MODEL}/versions`)
    ).versions;
    const store = await new Objm(nc).open(subjects.bucket('models'));
    const blobs = new Map<string, Uint8Array>();
    for (const name of versions[0]!.objects)
      blobs.set(name, new Uint8Array((await store.getBlob(name))!));
    return new LoadedModel(MODEL, 1, await servableFromBlobs(blobs), DEFAULT_SERVING_LIMITS);
  }

  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
    nats = await PrivateNatsServer.start();
    nc = await connectNats({ servers: nats.url, name: 'inference-job-e2e' });
    await standInForFeatureService(nc, subjects, {
      train: TRAIN,
      validation: VALIDATION,
      source: 'synthetic_raw',
    });
    const env = { NATS_URL: nats.url, SUBJECT_ROOT: root, LOG_LEVEL: 'info' };
    am = await ServiceProcess.start({
      app: 'am',
      env: {
        ...env,
        DATA_DIR: dataDir,
        DB_SCHEMA: 'am',
        HEARTBEAT_INTERVAL_MS: '250',
        JOB_PROGRESS_EVENT_MS: '200',
      },
    });
    processes.push(am);
    for (const [app, nodeId, slots] of [
      ['parameter-server', 'p1', '2'],
      ['worker', 'w1', '1'],
      ['worker', 'w2', '1'],
    ] as const) {
      processes.push(
        await ServiceProcess.start({
          app,
          env: { ...env, NODE_ID: nodeId, NODE_SLOTS: slots, AM_RETRY_MAX_MS: '500' },
        }),
      );
    }
    await waitFor(
      'the nodes registered',
      async () => (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.length === 3,
      30_000,
    );
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM', 5_000)));
    await nc?.close();
    await nats?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('scores every example once with the trained version, across 2 ps shards and 2 workers', async () => {
    const trained = await untilEnded(
      (
        await submit({
          name: 'synthetic-train',
          examples: { pipeline: PIPELINE, version: 1 },
          model: { kind: 'mlp', hidden: [6] },
          training: {
            epochs: 2,
            batchSize: 32,
            optimizer: { kind: 'adam', learningRate: 0.05 },
            seed: 11,
          },
          cluster: { workers: 1, ps: 2 },
          output: { model: MODEL },
        })
      ).id,
    );
    expect(trained, JSON.stringify(trained)).toMatchObject({ state: 'SUCCEEDED', modelVersion: 1 });

    const submitted = await submit({
      name: 'synthetic-score',
      mode: 'inference',
      inference: { model: MODEL, input: { pipeline: PIPELINE }, batchSize: 64 },
      cluster: { workers: 2, ps: 2 },
    });
    expect(submitted.spec.inference).toMatchObject({ model: MODEL, version: 1 });
    const done = await untilEnded(submitted.id);
    expect(done, JSON.stringify(done)).toMatchObject({ state: 'SUCCEEDED' });
    expect(done.reason).toBe(`scored ${TRAIN + VALIDATION} records with model ${MODEL} version 1`);
    expect(done.progress.examplesSeen).toBe(TRAIN + VALIDATION);
    const roles = done.roles.map((r) => `${r.role}:${r.state}`).sort();
    expect(roles).toEqual(['ps-0:DONE', 'ps-1:DONE', 'worker-0:DONE', 'worker-1:DONE']);
    expect(
      new Set(done.roles.filter((r) => r.role.startsWith('worker')).map((r) => r.nodeId)),
    ).toEqual(new Set(['w1', 'w2']));

    // Exactly one score per example, equal to the exported model served in-process.
    const served = await servedModel();
    const rows = TRAIN + VALIDATION;
    const dense = new Float32Array(rows * WIDTH);
    for (let row = 0; row < rows; row += 1) dense.set(syntheticFeatures(row), row * WIDTH);
    const expected = served.run({ size: rows, dense, ids: new Int32Array(0) });
    served.dispose();
    const predictions = (await readPredictions(nc, subjects, MODEL)).filter(
      (m) => m.job === submitted.id,
    );
    expect(predictions).toHaveLength(rows);
    expect(new Set(predictions.map((m) => m.id)).size).toBe(rows);
    for (const message of predictions) {
      const row = Number(message.id.slice(1));
      expect(message).toMatchObject({ model: MODEL, version: 1, source: 'synthetic_raw' });
      expect(Math.abs(message.score! - expected[row]!)).toBeLessThan(1e-5);
    }

    const events = (
      await ok<{ events: JobEvent[] }>('GET', `${am.url}/v1/jobs/${submitted.id}/events`)
    ).events;
    expect(events.filter((e) => e.type === 'job-state').map((e) => e.to)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    await waitFor(
      'slots released',
      async () =>
        (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.every(
          (n) => n.slots.used === 0 && n.runningRoles.length === 0,
        ),
      20_000,
      100,
    );
  });

  it('scores a raw stream until cancelled; a worker role killed mid-stream is replaced, still one score per record', async () => {
    const source = 'synthetic_raw';
    await ensureRawStream(nc, subjects, source);
    const record = (row: number): Record<string, unknown> => {
      const dense = syntheticFeatures(row);
      return { id: `s${row}`, x0: dense[0], x1: dense[1], x2: dense[2] };
    };
    const rows = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => record(from + i));
    const ROWS = 800;
    const submitted = await submit({
      name: 'synthetic-stream',
      mode: 'inference',
      inference: { model: MODEL, input: { source }, batchSize: 16, ackWaitSeconds: 3 },
      cluster: { workers: 2, ps: 2 },
      failover: { policy: 'restart-role', maxAttempts: 3, backoffMs: 100 },
    });
    const view = async () => ok<JobView>('GET', `${am.url}/v1/jobs/${submitted.id}`);
    await waitFor('the job running', async () => (await view()).state === 'RUNNING', 120_000);
    const mine = async () =>
      (await readPredictions(nc, subjects, MODEL)).filter((m) => m.job === submitted.id);
    // The first half; then a worker role process is killed while the second half streams in.
    await publishRawRecords(nc, subjects, source, rows(0, ROWS / 2), 'id');
    await waitFor('some records scored', async () => (await mine()).length >= ROWS / 4, 120_000);
    const victim = (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes
      .flatMap((node) => node.runningRoles)
      .find((r) => r.token.jobId === submitted.id && r.token.role === 'worker-1');
    expect(victim).toBeDefined();
    const rest = publishRawRecords(nc, subjects, source, rows(ROWS / 2, ROWS / 2), 'id');
    process.kill(victim!.pid, 'SIGKILL');
    await rest;
    await waitFor(
      'worker-1 replaced',
      async () => (await view()).roles.some((r) => r.role === 'worker-1' && r.attempt === 1),
      120_000,
    );
    await waitFor('every record scored', async () => (await mine()).length >= ROWS, 180_000, 250);
    // Past the ack wait: a redelivered record's copy, if any, was dropped by JetStream.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const messages = await mine();
    expect(messages).toHaveLength(ROWS);
    expect(new Set(messages.map((m) => m.id)).size).toBe(ROWS);
    const served = await servedModel();
    const dense = new Float32Array(ROWS * WIDTH);
    for (let row = 0; row < ROWS; row += 1) dense.set(syntheticFeatures(row), row * WIDTH);
    const expected = served.run({ size: ROWS, dense, ids: new Int32Array(0) });
    served.dispose();
    for (const message of messages)
      expect(Math.abs(message.score! - expected[Number(message.id.slice(1))]!)).toBeLessThan(1e-5);
    expect((await view()).state).toBe('RUNNING');
    await fetch(`${am.url}/v1/jobs/${submitted.id}/cancel`, { method: 'POST' });
    await waitFor('cancelled', async () => (await view()).state === 'CANCELLED', 60_000);
    await waitFor(
      'slots released',
      async () =>
        (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.every(
          (n) => n.slots.used === 0 && n.runningRoles.length === 0,
        ),
      30_000,
      100,
    );
  });
});
