import 'reflect-metadata';
import {
  ControlPattern,
  ErrorCode,
  JobSpecInput,
  JobView,
  ModelAnnouncement,
  ModelVersion,
  streamJobConsumer,
  Subjects,
} from '@dln/contracts';
import { connectNats, decodeJson, encodeJson, NatsConnection } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import {
  deleteStreamsOfRoot,
  TEST_DATABASES,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAmConfig } from '../am.config';
import { jobsApi, startTestAm } from './fixtures/am-test-app';
import { BINARY_SCHEMA, FakeNode, FakeRole } from './fixtures/fake-peers';

const HEARTBEAT_MS = 200;
const PIPELINE = 'clicks';
const SNAPSHOT_VERSION = 3;

const streamSpec = (overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'ctr',
  mode: 'stream',
  examples: { pipeline: PIPELINE },
  model: { kind: 'logistic' },
  training: { batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
  cluster: { workers: 1, ps: 1 },
  output: { model: 'ctr', promotion: { metric: 'loss', margin: 0.01 } },
  stream: { exportEvery: { steps: 10 }, keepVersions: 1 },
  ...overrides,
});

describe.each(TEST_DATABASES)('am stream jobs on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`am_stream_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-am-stream-'));
  const config = loadAmConfig({
    NATS_URL: TEST_NATS_URL,
    SUBJECT_ROOT: root,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    DB_SCHEMA: root,
    HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    NODE_SWEEP_INTERVAL_MS: '50',
    JOB_SCHEDULING_INTERVAL_MS: '50',
    JOB_PROGRESS_EVENT_MS: '0',
    ROLE_STOP_GRACE_MS: '100',
    PIPELINE_DESCRIBE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'error',
  });
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  let feature: { unsubscribe(): void } | undefined;
  const nodes: FakeNode[] = [];
  const announcements: ModelAnnouncement[] = [];

  const startAm = () => startTestAm(config);
  const { http, job, events, untilState } = jobsApi(() => app);
  const catalogue = async (): Promise<ModelVersion[]> =>
    (await http().get('/v1/models/ctr/versions').expect(200)).body.versions as ModelVersion[];
  const rolesOf = (jobId: string) => nodes.flatMap((node) => node.rolesOf(jobId));
  const fakeRole = (jobId: string, role: string) => {
    const assigned = rolesOf(jobId).find((r) => r.token.role === role);
    if (!assigned) throw new Error(`${role} of ${jobId} was not assigned`);
    return new FakeRole(nc, subjects, assigned.token);
  };
  const consumerInfo = async (jobId: string) => {
    const jsm = await jetstreamManager(nc);
    return jsm.consumers
      .info(subjects.streamExamplesStream(PIPELINE), streamJobConsumer(jobId))
      .catch(() => null);
  };

  /** Submits a stream job and brings it to RUNNING (ps first, then the worker). */
  async function submitRunning(input: JobSpecInput): Promise<JobView> {
    const res = await http().post('/v1/jobs').send(input);
    if (res.status !== 201)
      throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    const created = res.body as JobView;
    await waitFor('ps-0 assigned', () => rolesOf(created.id).length === 1, 15_000, 20);
    fakeRole(created.id, 'ps-0').report({ type: 'started' });
    await waitFor('worker-0 assigned', () => rolesOf(created.id).length === 2, 15_000, 20);
    fakeRole(created.id, 'worker-0').report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    return created;
  }

  /** Worker 0's export at `step` with a progressive loss. */
  const exportAt = (worker: FakeRole, step: number, loss: number, finite = true) =>
    worker.report({
      type: 'exported',
      objects: [`${worker.token.jobId}/s${step}/model.json`],
      metrics: { loss, auc: 0.7, examples: 1000 },
      trainExamples: step * 16,
      finite,
      stream: { step, pipelineVersion: SNAPSHOT_VERSION },
    });

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'am-stream-test' });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: subjects.streamExamplesStream(PIPELINE),
      subjects: [subjects.streamExamples(PIPELINE)],
    });
    // The feature service's streamSnapshot answer (only what the AM reads is checked there).
    feature = nc.subscribe(subjects.control(ControlPattern.streamSnapshot), {
      callback: (_error, msg) => {
        const { pipeline } = decodeJson(msg.data) as { pipeline: string };
        msg.respond(
          encodeJson(
            pipeline === PIPELINE
              ? {
                  streamSnapshotVersion: 1,
                  pipeline,
                  version: SNAPSHOT_VERSION,
                  createdAt: new Date().toISOString(),
                  records: 500,
                  aggregates: [],
                  outputSchema: BINARY_SCHEMA,
                }
              : {
                  error: {
                    code: ErrorCode.NotFound,
                    message: `stream pipeline "${pipeline}" not found`,
                    retryable: false,
                  },
                },
          ),
        );
      },
    });
    nc.subscribe(subjects.modelAnnouncements(), {
      callback: (_e, msg) => void announcements.push(decodeJson(msg.data) as ModelAnnouncement),
    });
    app = await startAm();
    for (const [id, nodeKind] of [
      ['p1', 'parameter-server'],
      ['w1', 'worker'],
    ] as const) {
      const node = new FakeNode(nc, subjects, id, nodeKind, 2);
      await node.start(HEARTBEAT_MS);
      nodes.push(node);
    }
  });

  afterAll(async () => {
    for (const node of nodes) node.stop();
    feature?.unsubscribe();
    await app?.close();
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
    if (databaseUrl) await dropPostgresSchema(databaseUrl, root);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers a stream job on an unknown pipeline or with epochs with precise 400s', async () => {
    const unknown = await http()
      .post('/v1/jobs')
      .send(streamSpec({ examples: { pipeline: 'nope' } }))
      .expect(400);
    expect(unknown.body.error.issues).toEqual([
      { path: 'examples.pipeline', message: 'unknown stream pipeline "nope"' },
    ]);
    const epochs = await http()
      .post('/v1/jobs')
      .send(
        streamSpec({
          training: { epochs: 2, batchSize: 16, optimizer: { kind: 'sgd', learningRate: 0.1 } },
        }),
      )
      .expect(400);
    expect(epochs.body.error.issues).toContainEqual({
      path: 'training.epochs',
      message: 'a stream job runs until cancelled: no epochs',
    });
  });

  it('runs a stream job: consumer, RUNNING without a gate, versions catalogued with promotion and retirement, cancel deletes the consumer', async () => {
    const created = await submitRunning(streamSpec());
    expect(created.state).toBe('SCHEDULING');
    expect(created.pipelineVersion).toBe(SNAPSHOT_VERSION);
    const consumer = await consumerInfo(created.id);
    expect(consumer?.config).toMatchObject({
      durable_name: streamJobConsumer(created.id),
      max_ack_pending: 2 * 1 * 16,
      filter_subject: subjects.streamExamples(PIPELINE),
    });
    const worker = rolesOf(created.id).find((r) => r.token.role === 'worker-0')!;
    expect(worker.config.stream).toMatchObject({
      pipeline: PIPELINE,
      consumer: streamJobConsumer(created.id),
      settings: { exportEvery: { steps: 10 }, keepVersions: 1 },
    });
    expect(worker.config.examples).toMatchObject({ pipeline: PIPELINE, version: SNAPSHOT_VERSION });
    const w0 = fakeRole(created.id, 'worker-0');

    // Progress: the windowed progressive loss of the worker.
    w0.report({
      type: 'progress',
      epoch: 0,
      step: 5,
      loss: 0.42,
      examples: 80,
      examplesPerSecond: 50,
    });
    await waitFor(
      'progress',
      async () => (await job(created.id)).progress.loss === 0.42,
      5_000,
      50,
    );

    // v1 default; v2 better: default; v3 worse than the margin: kept, not default, v1 retired
    // (keep 1 besides the default); the re-sent v3 is the same export; v4 better: default, v2 retired.
    const steps: [number, number][] = [
      [10, 0.6],
      [20, 0.5],
      [30, 0.9],
      [30, 0.9],
      [40, 0.45],
    ];
    for (const [index, [step, loss]] of steps.entries()) {
      exportAt(w0, step, loss);
      const expected = new Set(steps.slice(0, index + 1).map(([s]) => s)).size;
      await waitFor(
        `export ${step}`,
        async () =>
          (await events(created.id)).filter((e) => e.type === 'model-version').length === expected,
        5_000,
        50,
      );
    }
    // A re-sent report is applied once even after it was judged.
    exportAt(w0, 30, 0.9);
    const running = await job(created.id);
    expect(running.state).toBe('RUNNING');
    expect(running.modelVersion).toBe(4);
    const versions = await catalogue();
    expect(
      versions.map((v) => [v.version, v.isDefault, v.pipelineVersion, v.metrics.loss]),
    ).toEqual([
      [3, false, SNAPSHOT_VERSION, 0.9],
      [4, true, SNAPSHOT_VERSION, 0.45],
    ]);
    const recorded = (await events(created.id)).filter((e) => e.type === 'model-version');
    expect(
      recorded.map((e) => [
        e.detail['version'],
        e.detail['isDefault'],
        e.detail['step'],
        e.detail['retired'],
      ]),
    ).toEqual([
      [1, true, 10, []],
      [2, true, 20, []],
      [3, false, 30, [1]],
      [4, true, 40, [2]],
    ]);
    await waitFor('announcements', () => announcements.length >= 6, 5_000, 50);
    expect(announcements.map((a) => [a.change, a.version, a.defaultVersion])).toEqual([
      ['added', 1, 1],
      ['added', 2, 2],
      ['added', 3, 2],
      ['retired', 1, 2],
      ['added', 4, 4],
      ['retired', 2, 4],
    ]);
    // The prediction side's view: the catalogue over NATS no longer lists retired versions.
    expect(
      (await events(created.id)).filter((e) => e.type === 'job-state').map((e) => e.to),
    ).toEqual(['SUBMITTED', 'SCHEDULING', 'RUNNING']);

    // An AM restart: the job is reloaded RUNNING with its roles, and worker 0 re-sending its
    // last export (its answer lost) catalogues nothing new.
    await app.close();
    app = await startAm();
    expect((await job(created.id)).state).toBe('RUNNING');
    exportAt(w0, 40, 0.45);
    w0.report({
      type: 'progress',
      epoch: 0,
      step: 45,
      loss: 0.4,
      examples: 720,
      examplesPerSecond: 50,
    });
    await waitFor(
      'progress after the restart',
      async () => (await job(created.id)).progress.step === 45,
      5_000,
      50,
    );
    expect((await catalogue()).map((v) => v.version)).toEqual([3, 4]);
    expect((await job(created.id)).state).toBe('RUNNING');

    const cancelled = (await http().post(`/v1/jobs/${created.id}/cancel`).expect(200))
      .body as JobView;
    expect(cancelled.state).toBe('CANCELLED');
    await waitFor(
      'roles stopped',
      () => nodes.flatMap((n) => n.stopped).filter((t) => t.jobId === created.id).length === 2,
      5_000,
      50,
    );
    await waitFor(
      'consumer deleted',
      async () => (await consumerInfo(created.id)) === null,
      5_000,
      50,
    );
    // The catalogue keeps the job's versions after the job ended.
    expect((await catalogue()).map((v) => v.version)).toEqual([3, 4]);
  });

  it('fails a stream job whose export is not finite (the NaN guard) and deletes its consumer', async () => {
    const created = await submitRunning(streamSpec({ name: 'ctr-nan' }));
    expect(await consumerInfo(created.id)).not.toBeNull();
    exportAt(fakeRole(created.id, 'worker-0'), 10, 0, false);
    const failed = await untilState(created.id, 'FAILED');
    expect(failed.reason).toBe('model not exported: the exported weights are not all finite');
    await waitFor(
      'consumer deleted',
      async () => (await consumerInfo(created.id)) === null,
      5_000,
      50,
    );
    expect((await catalogue()).map((v) => v.version)).toEqual([3, 4]);
  });
});
