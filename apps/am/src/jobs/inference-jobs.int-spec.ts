import 'reflect-metadata';
import {
  encodeExample,
  inferenceJobConsumer,
  InferenceJobSpecInput,
  inferenceMsgId,
  RecordHeader,
  JobSpecInput,
  JobView,
  Subjects,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  encodeJson,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import { inferenceAckPendingFor } from '@dln/ps-wire';
import {
  deleteStreamsOfRoot,
  TEST_DATABASES,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAmConfig } from '../am.config';
import { jobsApi, startTestAm } from './fixtures/am-test-app';
import { FakeNode, FakeRole, fakeFeatureService, fakeVersion } from './fixtures/fake-peers';
import { ModelRegistryService } from './model-registry.service';

const HEARTBEAT_MS = 200;

const trainingSpec: JobSpecInput = {
  name: 'delays',
  examples: { pipeline: 'flights', version: 1 },
  model: { kind: 'mlp', hidden: [4] },
  training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 }, seed: 7 },
  cluster: { workers: 1, ps: 1 },
  output: { model: 'delays' },
};

const inferenceSpec = (
  inference: Partial<InferenceJobSpecInput['inference']> = {},
  overrides: Record<string, unknown> = {},
): Record<string, unknown> => ({
  name: 'score',
  mode: 'inference',
  inference: { model: 'delays', input: { pipeline: 'flights' }, batchSize: 32, ...inference },
  cluster: { workers: 2, ps: 2 },
  ...overrides,
});

describe.each(TEST_DATABASES)('am inference jobs on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`am_infer_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-am-infer-'));
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
    EXPORT_GRACE_MS: '300',
    PIPELINE_DESCRIBE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'error',
  });
  const withSource = (version: Record<string, unknown>) => ({
    ...version,
    snapshot: { spec: { source: 'flights_raw' } },
  });
  const versions = new Map<string, Record<string, unknown>[]>([
    ['flights', [withSource(fakeVersion('flights', 1, 'done'))]],
  ]);
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  let feature: { unsubscribe(): void };
  const nodes: FakeNode[] = [];
  const { http, job, events, untilState } = jobsApi(() => app);
  const rolesOf = (jobId: string) => nodes.flatMap((node) => node.rolesOf(jobId));
  const nodeOf = (token: { jobId: string; role: string; attempt: number }) =>
    nodes.find((node) =>
      node
        .rolesOf(token.jobId)
        .some((r) => r.token.role === token.role && r.token.attempt === token.attempt),
    )!;
  const fakeRole = (jobId: string, role: string, attempt = 0) => {
    const assigned = rolesOf(jobId).find(
      (r) => r.token.role === role && r.token.attempt === attempt,
    );
    if (!assigned) throw new Error(`${role} (attempt ${attempt}) of ${jobId} was not assigned`);
    return new FakeRole(nc, subjects, assigned.token);
  };
  const submit = async (body: unknown): Promise<JobView> => {
    const res = await http()
      .post('/v1/jobs')
      .send(body as object);
    if (res.status !== 201)
      throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as JobView;
  };
  const refusal = async (body: unknown): Promise<{ path: string; message: string }[]> => {
    const res = await http()
      .post('/v1/jobs')
      .send(body as object)
      .expect(400);
    return res.body.error.issues as { path: string; message: string }[];
  };
  const consumerInfo = async (jobId: string) =>
    (await jetstreamManager(nc)).consumers
      .info(subjects.examplesStream('flights'), inferenceJobConsumer(jobId))
      .catch(() => null);
  let models: Awaited<ReturnType<Objm['create']>>;

  /** A batch job trained to its end by fake roles: its export becomes a catalogued version. */
  async function trainVersion(): Promise<number> {
    const created = await submit(trainingSpec);
    await waitFor('ps-0 assigned', () => rolesOf(created.id).length === 1, 15_000, 20);
    fakeRole(created.id, 'ps-0').report({ type: 'started' });
    await waitFor('worker-0 assigned', () => rolesOf(created.id).length === 2, 15_000, 20);
    const worker = fakeRole(created.id, 'worker-0');
    worker.report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    worker.report({ type: 'evaluation', epoch: 0, metrics: { loss: 0.5, examples: 20 } });
    expect((await worker.gate(0)).proceed).toBe(false);
    const objects = [`delays/${created.id}/model.json`, `delays/${created.id}/weights.bin`];
    for (const name of objects) await models.putBlob({ name }, new Uint8Array([1, 2, 3]));
    worker.report({
      type: 'exported',
      objects,
      metrics: { loss: 0.5, auc: 0.7, examples: 20 },
      trainExamples: 80,
      finite: true,
    });
    worker.report({ type: 'finished' });
    await nodeOf(worker.token).exit(worker.token, 'completed', 0);
    const done = await untilState(created.id, 'SUCCEEDED');
    return done.modelVersion as number;
  }

  /** Submits an inference job and starts both shards and both workers: RUNNING. */
  async function submitRunning(body: unknown): Promise<JobView> {
    const created = await submit(body);
    await waitFor('the ps assigned', () => rolesOf(created.id).length === 2, 15_000, 20);
    for (const ps of ['ps-0', 'ps-1']) fakeRole(created.id, ps).report({ type: 'started' });
    await waitFor('the workers assigned', () => rolesOf(created.id).length === 4, 15_000, 20);
    for (const w of ['worker-0', 'worker-1']) fakeRole(created.id, w).report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    return created;
  }

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'am-infer-test' });
    feature = fakeFeatureService(nc, subjects, versions);
    await (
      await jetstreamManager(nc)
    ).streams.add({
      name: subjects.examplesStream('flights'),
      subjects: [subjects.examplesEveryVersion('flights')],
    });
    models = await new Objm(nc).create(subjects.bucket('models'));
    app = await startTestAm(config);
    for (const [id, nodeKind] of [
      ['p1', 'parameter-server'],
      ['p2', 'parameter-server'],
      ['w1', 'worker'],
      ['w2', 'worker'],
    ] as const) {
      const node = new FakeNode(nc, subjects, id, nodeKind, 3);
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

  it('answers bad inference specs with precise 400s', async () => {
    expect(await refusal(inferenceSpec({ model: 'nothing' }))).toEqual([
      { path: 'inference.model', message: 'model "nothing" has no catalogued version' },
    ]);
    const first = await trainVersion();
    expect(first).toBe(1);
    expect((await refusal(inferenceSpec({ version: 9 })))[0]).toEqual({
      path: 'inference.version',
      message: 'model "delays" has no version 9 (latest 1)',
    });
    const training = await refusal(
      inferenceSpec({}, { training: { epochs: 1 }, output: { model: 'x' } }),
    );
    expect(training.map((issue) => issue.path).sort()).toEqual(['output', 'training']);
    expect((await refusal(inferenceSpec({}, { cluster: { workers: 0, ps: 1 } })))[0]?.path).toBe(
      'cluster.workers',
    );
    expect((await refusal(inferenceSpec({ input: { pipeline: 'other' } })))[0]).toEqual({
      path: 'inference.input.pipeline',
      message: 'version 1 of model "delays" was trained on pipeline "flights", not "other"',
    });
    expect(
      (await refusal(inferenceSpec({ input: { pipeline: 'flights', version: 2 } })))[0],
    ).toEqual({
      path: 'inference.input.version',
      message:
        'version 1 of model "delays" encodes records with version 1 of pipeline "flights", not 2',
    });
    // A second version whose artifact left the Object Store.
    const second = await trainVersion();
    const [gone] = (await http().get('/v1/models/delays/versions').expect(200)).body.versions.find(
      (v: { version: number }) => v.version === second,
    ).objects as string[];
    await models.delete(gone!);
    expect((await refusal(inferenceSpec({ version: second })))[0]).toEqual({
      path: 'inference.version',
      message: `the artifact of version ${second} of model "delays" is retired from the Object Store (${gone} is gone)`,
    });
  });

  it('answers a version retired from the catalogue with a 400 naming the catalogued ones', async () => {
    const retiring = await trainVersion();
    const newest = await trainVersion();
    type Listed = { version: number; jobId: string };
    const listed = async (): Promise<Listed[]> =>
      (await http().get('/v1/models/delays/versions').expect(200)).body.versions as Listed[];
    const doomed = (await listed()).find((v) => v.version === retiring)!;
    expect(
      await app.get(ModelRegistryService).retireJobVersions('delays', doomed.jobId, 0),
    ).toEqual([retiring]);
    const catalogued = (await listed()).map((v) => v.version).sort((a, b) => a - b);
    expect(catalogued).not.toContain(retiring);
    expect(catalogued).toContain(newest);
    expect(await refusal(inferenceSpec({ version: retiring }))).toEqual([
      {
        path: 'inference.version',
        message: `version ${retiring} of model "delays" was retired (catalogued: ${catalogued.join(', ')})`,
      },
    ]);
  });

  it('runs an inference job: version resolved, consumer, roles with the artifact, progress, SUCCEEDED when every worker drained the input', async () => {
    const created = await submitRunning(inferenceSpec({ version: 1 }));
    expect(created.state).toBe('SCHEDULING');
    expect(created.spec.mode).toBe('inference');
    expect(created.spec.inference).toMatchObject({ model: 'delays', version: 1 });
    expect(created.spec.model).toMatchObject({
      kind: 'mlp',
      hidden: [4],
      activation: 'relu',
      dropout: 0,
    });
    expect(created.spec.training.seed).toBe(7);
    expect(created.spec.training.updateMode).toBe('async');
    expect(created.spec.examples).toEqual({ pipeline: 'flights', version: 1 });
    expect((await consumerInfo(created.id))?.config).toMatchObject({
      filter_subject: subjects.examplesAll('flights', 1),
      max_ack_pending: inferenceAckPendingFor(2, 32),
    });
    const stream = await (
      await jetstreamManager(nc)
    ).streams.info(subjects.predictionsStream('delays'));
    expect(stream.config.subjects).toEqual([subjects.predictions('delays')]);
    const configs = rolesOf(created.id).map((r) => r.config);
    expect(configs.map((c) => c.token.role).sort()).toEqual([
      'ps-0',
      'ps-1',
      'worker-0',
      'worker-1',
    ]);
    for (const c of configs) {
      expect(c.inference?.objects).toHaveLength(2);
      expect(c.inference?.source).toBe('flights_raw');
      expect(c.inference?.consumer).toBe(inferenceJobConsumer(created.id));
      expect(c.inference?.settings.version).toBe(1);
      expect(c.parameters.shardSizes).toHaveLength(2);
    }
    const workers = [fakeRole(created.id, 'worker-0'), fakeRole(created.id, 'worker-1')];
    workers.forEach((worker, i) =>
      worker.report({
        type: 'progress',
        epoch: 0,
        step: 2,
        loss: null,
        examples: 40 + i * 20,
        examplesPerSecond: 100,
      }),
    );
    await waitFor('progress', async () => (await job(created.id)).progress.examplesSeen === 100);
    workers[0]!.report({ type: 'finished' });
    await nodeOf(workers[0]!.token).exit(workers[0]!.token, 'completed', 0);
    await waitFor('worker-0 done', async () =>
      (await job(created.id)).roles.some((r) => r.role === 'worker-0' && r.state === 'DONE'),
    );
    expect((await job(created.id)).state).toBe('RUNNING');
    workers[1]!.report({ type: 'finished' });
    const done = await untilState(created.id, 'SUCCEEDED');
    expect(done.reason).toBe('scored 100 records with model delays version 1');
    await waitFor('the shards stopped', () => {
      const stopped = nodes
        .flatMap((node) => node.stopped)
        .filter((t) => t.jobId === created.id)
        .map((t) => t.role);
      return stopped.includes('ps-0') && stopped.includes('ps-1');
    });
    await waitFor('consumer deleted', async () => (await consumerInfo(created.id)) === null);
    const types = (await events(created.id)).map((e) => `${e.type}:${e.to ?? ''}`);
    expect(types).toContain('job-state:SUCCEEDED');
  });

  it('replaces a lost worker (same consumer, its progress carried on) and a lost shard alone; cancel stops every role', async () => {
    // No version given: the model's default, resolved and recorded on the job.
    await http().post('/v1/models/delays/versions/1/promote').expect(200);
    const created = await submitRunning(inferenceSpec());
    expect(created.spec.inference?.version).toBe(1);
    const lost = fakeRole(created.id, 'worker-1');
    lost.report({
      type: 'progress',
      epoch: 0,
      step: 3,
      loss: null,
      examples: 96,
      examplesPerSecond: 50,
    });
    await waitFor('progress', async () => (await job(created.id)).progress.examplesSeen === 96);
    await nodeOf(lost.token).exit(lost.token, 'crashed', 1);
    await waitFor('worker-1 replaced', () =>
      rolesOf(created.id).some((r) => r.token.role === 'worker-1' && r.token.attempt === 1),
    );
    const replacement = rolesOf(created.id).find(
      (r) => r.token.role === 'worker-1' && r.token.attempt === 1,
    )!;
    expect(replacement.config.start).toBe('replacement');
    expect(replacement.config.resume).toMatchObject({ step: 3, examples: 96 });
    expect(replacement.config.inference?.consumer).toBe(inferenceJobConsumer(created.id));
    fakeRole(created.id, 'worker-1', 1).report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    // A lost shard is replaced alone (async: no rollback); it loads its slice again.
    const shard = fakeRole(created.id, 'ps-0');
    await nodeOf(shard.token).exit(shard.token, 'crashed', 1);
    await waitFor('ps-0 replaced', () =>
      rolesOf(created.id).some((r) => r.token.role === 'ps-0' && r.token.attempt === 1),
    );
    const reloaded = rolesOf(created.id).find(
      (r) => r.token.role === 'ps-0' && r.token.attempt === 1,
    )!;
    expect(reloaded.config).toMatchObject({ start: 'replacement', restoreFrom: null });
    expect(reloaded.config.inference?.objects).toHaveLength(2);
    expect((await job(created.id)).generation).toBe(0);
    fakeRole(created.id, 'ps-0', 1).report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    await http().post(`/v1/jobs/${created.id}/cancel`).expect(200);
    await untilState(created.id, 'CANCELLED');
    await waitFor('every role stopped', () => {
      const stopped = nodes
        .flatMap((node) => node.stopped)
        .filter((t) => t.jobId === created.id)
        .map((t) => `${t.role}/${t.attempt}`);
      return ['ps-0/1', 'ps-1/0', 'worker-0/0', 'worker-1/1'].every((r) => stopped.includes(r));
    });
    await waitFor('consumer deleted', async () => (await consumerInfo(created.id)) === null);
  });

  it('scores a source raw stream until cancelled: consumer on every partition, precise 400s', async () => {
    expect((await refusal(inferenceSpec({ version: 1, input: { source: 'other' } })))[0]).toEqual({
      path: 'inference.input.source',
      message: 'version 1 of model "delays" encodes records of source "flights_raw", not "other"',
    });
    expect(
      (await refusal(inferenceSpec({ version: 1, input: { source: 'flights_raw' } })))[0],
    ).toEqual({
      path: 'inference.input',
      message: `the input's stream ${subjects.rawStream('flights_raw')} does not exist`,
    });
    await (
      await jetstreamManager(nc)
    ).streams.add({
      name: subjects.rawStream('flights_raw'),
      subjects: [subjects.rawAll('flights_raw')],
    });
    const created = await submitRunning(
      inferenceSpec({ version: 1, input: { source: 'flights_raw', startAt: 'new' } }),
    );
    expect(created.spec.inference?.input).toEqual({ source: 'flights_raw', startAt: 'new' });
    expect(created.spec.examples).toEqual({ pipeline: 'flights', version: 1 });
    const consumer = await (
      await jetstreamManager(nc)
    ).consumers
      .info(subjects.rawStream('flights_raw'), inferenceJobConsumer(created.id))
      .catch(() => null);
    expect(consumer?.config).toMatchObject({
      filter_subject: subjects.rawAll('flights_raw'),
      deliver_policy: 'new',
    });
    const worker = rolesOf(created.id).find((r) => r.token.role === 'worker-0')!;
    expect(worker.config.inference?.settings.input).toEqual({
      source: 'flights_raw',
      startAt: 'new',
    });
    await http().post(`/v1/jobs/${created.id}/cancel`).expect(200);
    await untilState(created.id, 'CANCELLED');
    await waitFor('consumer deleted', async () => {
      const info = await (
        await jetstreamManager(nc)
      ).consumers
        .info(subjects.rawStream('flights_raw'), inferenceJobConsumer(created.id))
        .catch(() => null);
      return info === null;
    });
  });

  it('an AM restart while an inference job runs: reloaded RUNNING on the same consumer, SUCCEEDED, one score per record', async () => {
    const records = 120;
    const examples = jetStreamOf(nc);
    await publishAll(
      examples,
      Array.from({ length: records }, (_, i) => {
        const headers = natsHeaders();
        headers.set(RecordHeader.recordId, `restart-${i}`);
        return {
          subject: subjects.examples('flights', 1, 'train'),
          data: encodeExample({ dense: new Float32Array([i]), ids: new Int32Array(0), label: 0 }),
          headers,
        };
      }),
    );
    const created = await submitRunning(inferenceSpec({ version: 1, ackWaitSeconds: 1 }));
    const worker = fakeRole(created.id, 'worker-0');
    const consumer = await jetstream(nc).consumers.get(
      subjects.examplesStream('flights'),
      inferenceJobConsumer(created.id),
    );
    // The worker's side, as the role does it: one score per record (job-scoped msg id), acked
    // after its PubAck, or (`ack` false) published and left unacknowledged as by a dying worker.
    const scoreBatch = async (max: number, ack: boolean): Promise<number> => {
      const batch = await consumer.fetch({ max_messages: max, expires: 2_000 });
      const taken = [];
      for await (const message of batch) taken.push(message);
      await publishAll(
        examples,
        taken.map((message) => {
          const id = message.headers!.get(RecordHeader.recordId);
          return {
            subject: subjects.predictions('delays'),
            data: encodeJson({ id, job: created.id, score: 0.5 }),
            msgID: inferenceMsgId(created.id, 'flights_raw', id),
          };
        }),
      );
      if (ack) for (const message of taken) message.ack();
      await nc.flush();
      return taken.length;
    };
    expect(await scoreBatch(50, true)).toBe(50);
    expect(await scoreBatch(30, false)).toBe(30);
    await app.close();
    app = await startTestAm(config);
    const reloaded = await untilState(created.id, 'RUNNING');
    expect(reloaded.roles.find((r) => r.role === 'worker-0')).toMatchObject({
      state: 'RUNNING',
      attempt: 0,
    });
    // The restarted AM kept the consumer and its position: only the 70 not acknowledged are left.
    const info = await consumerInfo(created.id);
    expect(info?.ack_floor.stream_seq).toBeGreaterThanOrEqual(50);
    let scored = 0;
    await waitFor(
      'the rest scored (the unacknowledged 30 redelivered)',
      async () => {
        scored += await scoreBatch(64, true);
        const left = await consumerInfo(created.id);
        return left !== null && left.num_pending === 0 && left.num_ack_pending === 0;
      },
      60_000,
      50,
    );
    expect(scored).toBeGreaterThanOrEqual(records - 50);
    worker.report({ type: 'finished' });
    fakeRole(created.id, 'worker-1').report({ type: 'finished' });
    await untilState(created.id, 'SUCCEEDED');
    const stream = subjects.predictionsStream('delays');
    const predictions = await (await jetstreamManager(nc)).streams.info(stream);
    const ids: string[] = [];
    const reader = await jetstream(nc).consumers.get(stream);
    const copies = await reader.fetch({
      max_messages: predictions.state.messages,
      expires: 5_000,
    });
    for await (const message of copies) {
      const prediction = decodeJson(message.data) as { id: string; job: string };
      if (prediction.job === created.id) ids.push(prediction.id);
      if (message.info.pending === 0) break;
    }
    expect(ids).toHaveLength(records);
    expect(new Set(ids).size).toBe(records);
    await waitFor('consumer deleted', async () => (await consumerInfo(created.id)) === null);
  });
});
