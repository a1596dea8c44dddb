import 'reflect-metadata';
import {
  JobEvent,
  JobSpecInput,
  JobView,
  ModelAnnouncement,
  modelCatalogueSchema,
  ControlPattern,
  Subjects,
} from '@dln/contracts';
import { connectNats, decodeJson, NatsConnection, requestJson } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import {
  deleteStreamsOfRoot,
  TEST_DATABASES,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { Objm } from '@nats-io/obj';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAmConfig } from '../am.config';
import { jobsApi, startTestAm } from './fixtures/am-test-app';
import { fakeFeatureService, FakeNode, FakeRole, fakeVersion } from './fixtures/fake-peers';

const HEARTBEAT_MS = 200;

const spec = (overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'delays',
  examples: { pipeline: 'flights', version: 1 },
  model: { kind: 'mlp', hidden: [4] },
  training: {
    epochs: 2,
    batchSize: 16,
    optimizer: { kind: 'adam', learningRate: 0.01 },
    keepCheckpoints: 1,
  },
  cluster: { workers: 2, ps: 1 },
  output: { model: 'delays' },
  ...overrides,
});

describe.each(TEST_DATABASES)('am jobs on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`am_jobs_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-am-jobs-'));
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
  const versions = new Map<string, Record<string, unknown>[]>([
    ['flights', [fakeVersion('flights', 1, 'done'), fakeVersion('flights', 2, 'running')]],
    ['fresh', []],
  ]);
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  let feature: { unsubscribe(): void };
  const nodes: FakeNode[] = [];
  const announcements: ModelAnnouncement[] = [];
  const natsEvents: JobEvent[] = [];

  const startAm = () => startTestAm(config);
  const { http, job, events, untilState } = jobsApi(() => app);
  const rolesOf = (jobId: string) => nodes.flatMap((node) => node.rolesOf(jobId));
  const nodeOf = (token: { jobId: string; role: string }) =>
    nodes.find((node) => node.rolesOf(token.jobId).some((r) => r.token.role === token.role))!;
  const fakeRole = (jobId: string, role: string) => {
    const assigned = rolesOf(jobId).find((r) => r.token.role === role);
    if (!assigned) throw new Error(`${role} of ${jobId} was not assigned`);
    return new FakeRole(nc, subjects, assigned.token);
  };

  const submit = async (input: JobSpecInput): Promise<JobView> => {
    const res = await http().post('/v1/jobs').send(input);
    if (res.status !== 201)
      throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as JobView;
  };

  /** Submits a job and starts its ps shard (workers are assigned once every shard serves). */
  async function submitRunning(input: JobSpecInput): Promise<JobView> {
    const created = await submit(input);
    await waitFor(
      'ps-0 assigned',
      () => rolesOf(created.id).some((r) => r.token.role === 'ps-0'),
      15_000,
      20,
    );
    const scheduling = await job(created.id);
    expect(scheduling.state).toBe('SCHEDULING');
    expect(rolesOf(created.id).map((r) => r.token.role)).toEqual(['ps-0']);
    fakeRole(created.id, 'ps-0').report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    return created;
  }

  /** Drives the roles of a running job through its epochs, the export and the end. */
  async function trainToEnd(
    jobId: string,
    losses: number[],
    exported: { loss: number; finite?: boolean },
  ): Promise<void> {
    const ps = fakeRole(jobId, 'ps-0');
    const workers = [fakeRole(jobId, 'worker-0'), fakeRole(jobId, 'worker-1')];
    for (const role of [ps, ...workers]) role.report({ type: 'started' });
    for (const [epoch, loss] of losses.entries()) {
      workers.forEach((worker, index) =>
        worker.report({
          type: 'progress',
          epoch,
          step: (epoch + 1) * 5,
          loss: loss + index * 0.1,
          examples: (epoch + 1) * 40,
          examplesPerSecond: 100,
        }),
      );
      workers[0]!.report({ type: 'evaluation', epoch, metrics: { loss, auc: 0.7, examples: 20 } });
      const replies = await Promise.all(workers.map((worker) => worker.gate(epoch)));
      const last = epoch === losses.length - 1;
      for (const reply of replies) expect(reply.proceed).toBe(!last);
    }
    workers[0]!.report({
      type: 'exported',
      objects: [`${jobId}/model.json`],
      metrics: { loss: exported.loss, auc: 0.7, examples: 20 },
      trainExamples: 80,
      finite: exported.finite ?? true,
    });
    for (const worker of workers) worker.report({ type: 'finished' });
    for (const worker of workers) await nodeOf(worker.token).exit(worker.token, 'completed', 0);
  }

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'am-jobs-test' });
    feature = fakeFeatureService(nc, subjects, versions);
    nc.subscribe(subjects.modelAnnouncements(), {
      callback: (_e, msg) => void announcements.push(decodeJson(msg.data) as ModelAnnouncement),
    });
    nc.subscribe(subjects.jobEventsAll(), {
      callback: (_e, msg) => void natsEvents.push(decodeJson(msg.data) as JobEvent),
    });
    app = await startAm();
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

  it('answers bad job specs with precise 400s', async () => {
    const issue = async (body: object) => {
      const res = await http().post('/v1/jobs').send(body).expect(400);
      return res.body.error.issues as { path: string; message: string }[];
    };
    expect(await issue(spec({ cluster: { workers: 0, ps: 1 } }))).toEqual([
      { path: 'cluster.workers', message: expect.stringMatching(/>=1|at least|too small/i) },
    ]);
    expect(
      (
        await issue(
          spec({
            training: { epochs: 1, batchSize: 8, optimizer: { kind: 'sgd', learningRate: -0.1 } },
          }),
        )
      )[0]?.path,
    ).toBe('training.optimizer.learningRate');
    expect(await issue(spec({ examples: { pipeline: 'nope', version: 1 } }))).toEqual([
      { path: 'examples.pipeline', message: 'unknown pipeline "nope"' },
    ]);
    expect(await issue(spec({ examples: { pipeline: 'flights', version: 9 } }))).toEqual([
      { path: 'examples.version', message: 'pipeline "flights" has no version 9' },
    ]);
    expect((await issue(spec({ examples: { pipeline: 'flights', version: 2 } })))[0]).toMatchObject(
      {
        path: 'examples.version',
        message: expect.stringMatching(/not materialized \(status running\)/),
      },
    );
    expect(
      await issue(
        spec({
          model: {
            kind: 'layers',
            layers: [{ className: 'Dense', config: { units: 4, inputShape: [5] } }],
          },
        }),
      ),
    ).toEqual([
      {
        path: 'model.layers.0.config',
        message: 'layer input width 5 does not fit the dense width 3 of the output schema',
      },
    ]);
    expect(
      (
        await issue(
          spec({
            model: {
              kind: 'wide_and_deep',
              embeddings: [{ column: 'dest', dim: 4 }],
              deepHidden: [4],
            },
          }),
        )
      )[0]?.path,
    ).toBe('model.embeddings.0.column');
    expect(
      await issue(spec({ output: { model: 'delays', promotion: { metric: 'rmse', margin: 0 } } })),
    ).toEqual([
      {
        path: 'output.promotion.metric',
        message: 'metric "rmse" does not apply to a binary label (use one of: loss, auc, accuracy)',
      },
    ]);
    expect((await http().get('/v1/jobs').expect(200)).body.jobs).toEqual([]);
  });

  it('keeps a job it cannot place in SCHEDULING with a reason, then FAILS it at its timeout', async () => {
    const created = await submit(spec({ name: 'too-big', scheduling: { timeoutSeconds: 2 } }));
    expect(created.state).toBe('SCHEDULING');
    expect(created.pipelineVersion).toBe(1);
    const waiting = await waitFor(
      'a reason',
      async () => ((await job(created.id)).reason ? job(created.id) : undefined),
      5_000,
      50,
    );
    expect(waiting.state).toBe('SCHEDULING');
    expect(waiting.reason).toBe(
      'waiting for slots: 1 ps role(s) need 1 free parameter-server slot(s), 0 free on 0 alive node(s); 2 worker role(s) need 2 free worker slot(s), 0 free on 0 alive node(s)',
    );
    const failed = await untilState(created.id, 'FAILED', 10_000);
    expect(failed.reason).toMatch(
      /^roles could not be placed within 2 s: waiting for slots: 1 ps role/,
    );
    expect(failed.roles.map((role) => [role.role, role.state])).toEqual([
      ['ps-0', 'SUPERSEDED'],
      ['worker-0', 'SUPERSEDED'],
      ['worker-1', 'SUPERSEDED'],
    ]);
    const recorded = await events(created.id);
    expect(recorded.filter((e) => e.type === 'job-state').map((e) => e.to)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'FAILED',
    ]);
    expect(recorded.filter((e) => e.type === 'info').map((e) => e.detail['waiting'])).toHaveLength(
      1,
    );
  });

  it('places, runs and finishes a job: SCHEDULING -> RUNNING -> SUCCEEDED, a model version catalogued and announced', async () => {
    for (const [id, nodeKind] of [
      ['p1', 'parameter-server'],
      ['w1', 'worker'],
      ['w2', 'worker'],
    ] as const) {
      const node = new FakeNode(nc, subjects, id, nodeKind, 2);
      await node.start(HEARTBEAT_MS);
      nodes.push(node);
    }
    const created = await submitRunning(spec());
    const roles = rolesOf(created.id);
    expect(roles.map((r) => [r.token.role, r.entry]).sort()).toEqual([
      ['ps-0', 'ps-role'],
      ['worker-0', 'worker-role'],
      ['worker-1', 'worker-role'],
    ]);
    // Workers spread over both worker nodes; every role gets the whole layout.
    expect(
      new Set(nodes.filter((n) => n.kind === 'worker').map((n) => n.rolesOf(created.id).length)),
    ).toEqual(new Set([1]));
    const worker1 = roles.find((r) => r.token.role === 'worker-1')!.config;
    expect(worker1).toMatchObject({
      kind: 'worker',
      index: 1,
      workers: 2,
      shards: 1,
      subjectRoot: root,
      examples: { pipeline: 'flights', version: 1, trainCount: 80 },
    });
    expect(worker1.parameters.variables.map((v) => v.name)).toEqual([
      'hidden_0/kernel',
      'hidden_0/bias',
      'output/kernel',
      'output/bias',
    ]);
    expect(worker1.parameters.totalSize).toBe(3 * 4 + 4 + 4 + 1);

    // Two shard checkpoints; with keepCheckpoints 1 the first one is deleted again.
    const bucket = await new Objm(nc).create(subjects.bucket('checkpoints'));
    const ps = fakeRole(created.id, 'ps-0');
    for (const step of [5, 10]) {
      const object = `${created.id}/g0/step-${step}/shard-0`;
      await bucket.putBlob({ name: object }, new Uint8Array([1, 2, 3, 4]));
      ps.report({ type: 'checkpoint', shard: 0, step, updateCount: step, object });
      await waitFor(
        `checkpoint ${step}`,
        async () =>
          (await events(created.id)).some(
            (e) => e.type === 'checkpoint' && e.detail['step'] === step,
          ),
        5_000,
        50,
      );
    }
    const manifest = await bucket.getBlob(`${created.id}/g0/step-10/manifest.json`);
    expect(JSON.parse(new TextDecoder().decode(manifest!))).toMatchObject({
      jobId: created.id,
      step: 10,
      shards: [{ shard: 0, object: `${created.id}/g0/step-10/shard-0`, updateCount: 10 }],
    });
    for (const deleted of ['manifest.json', 'shard-0']) {
      expect((await bucket.info(`${created.id}/g0/step-5/${deleted}`))?.deleted ?? true).toBe(true);
    }
    expect((await bucket.info(`${created.id}/g0/step-10/shard-0`))?.deleted).toBe(false);

    await trainToEnd(created.id, [0.6, 0.5], { loss: 0.5 });
    const done = await untilState(created.id, 'SUCCEEDED');
    expect(done).toMatchObject({
      reason: 'model delays version 1',
      modelVersion: 1,
      pipelineVersion: 1,
    });
    expect(done.roles.map((r) => [r.role, r.state])).toEqual([
      ['ps-0', 'DONE'],
      ['worker-0', 'DONE'],
      ['worker-1', 'DONE'],
    ]);
    expect(done.progress).toMatchObject({ epoch: 1, step: 10, examplesSeen: 160 });
    expect(done.validation).toEqual([
      { epoch: 0, metrics: { loss: 0.6, auc: 0.7, examples: 20 } },
      { epoch: 1, metrics: { loss: 0.5, auc: 0.7, examples: 20 } },
    ]);
    // The ps is told to stop once the workers are done.
    await waitFor(
      'ps stopped',
      () => nodes.find((n) => n.nodeId === 'p1')!.stopped.some((t) => t.jobId === created.id),
      5_000,
      50,
    );

    const recorded = await events(created.id);
    expect(recorded.map((e) => e.seq)).toEqual(recorded.map((_, index) => index + 1));
    expect(recorded.filter((e) => e.type === 'job-state').map((e) => e.to)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(
      recorded.filter((e) => e.type === 'role-state' && e.role === 'worker-0').map((e) => e.to),
    ).toEqual(['ASSIGNED', 'RUNNING', 'DONE']);
    expect(recorded.find((e) => e.type === 'model-version')?.detail).toMatchObject({
      accepted: true,
      version: 1,
      isDefault: true,
    });
    await waitFor(
      'NATS events',
      () => natsEvents.filter((e) => e.jobId === created.id).length === recorded.length,
      5_000,
      50,
    );
    expect(natsEvents.filter((e) => e.jobId === created.id)).toEqual(recorded);

    await waitFor(
      'announcement',
      () => announcements.some((a) => a.model === 'delays' && a.version === 1),
      5_000,
      50,
    );
    expect(announcements).toContainEqual({
      model: 'delays',
      version: 1,
      defaultVersion: 1,
      change: 'added',
    });
    const catalogue = await requestJson(
      nc,
      subjects.control(ControlPattern.modelCatalogue),
      { model: 'delays' },
      { reply: modelCatalogueSchema, what: 'catalogue' },
    );
    expect(catalogue.versions).toEqual([
      expect.objectContaining({
        model: 'delays',
        version: 1,
        jobId: created.id,
        isDefault: true,
        pinned: false,
        objects: [`${created.id}/model.json`],
      }),
    ]);
    // Slots are free again (a heartbeat sent before the stop may show the ps for one more interval).
    const used = async () =>
      ((await http().get('/v1/nodes').expect(200)).body.nodes as { slots: { used: number } }[]).map(
        (n) => n.slots.used,
      );
    await waitFor(
      'slots freed',
      async () => (await used()).every((count) => count === 0),
      5_000,
      50,
    );
  });

  it('applies the promotion rule, promotion and pinning by hand, and refuses a NaN model', async () => {
    const oneEpoch = () =>
      spec({
        training: { epochs: 1, batchSize: 16, optimizer: { kind: 'adam', learningRate: 0.01 } },
      });
    const run = async (loss: number) => {
      const created = await submitRunning(oneEpoch());
      await trainToEnd(created.id, [loss], { loss });
      return untilState(created.id, 'SUCCEEDED');
    };
    expect((await run(0.52)).modelVersion).toBe(2); // worse than 0.5 by 0.02 > margin 0.01: not the default
    const listed = (await http().get('/v1/models/delays/versions').expect(200)).body.versions as {
      version: number;
      isDefault: boolean;
    }[];
    expect(listed.map((v) => [v.version, v.isDefault])).toEqual([
      [1, true],
      [2, false],
    ]);
    expect((await run(0.505)).modelVersion).toBe(3); // within the margin: the new default
    expect((await http().get('/v1/models').expect(200)).body.models).toEqual([
      { name: 'delays', versions: 3, latestVersion: 3, defaultVersion: 3, pinned: false },
    ]);

    await http().post('/v1/models/delays/versions/1/pin').expect(200);
    expect((await run(0.1)).modelVersion).toBe(4); // far better, but version 1 is pinned
    expect((await http().get('/v1/models').expect(200)).body.models[0]).toMatchObject({
      defaultVersion: 1,
      pinned: true,
    });
    const refused = await http().post('/v1/models/delays/versions/4/promote').expect(409);
    expect(refused.body.error.message).toMatch(/version 1 of model "delays" is pinned/);
    await http().post('/v1/models/delays/unpin').expect(200);
    const promoted = (await http().post('/v1/models/delays/versions/4/promote').expect(200)).body;
    expect(promoted).toMatchObject({ version: 4, isDefault: true, pinned: false });
    await http().post('/v1/models/delays/versions/9/promote').expect(404);
    await http().get('/v1/models/unknown/versions').expect(404);
    await waitFor(
      'announcements',
      () => announcements.some((a) => a.change === 'promoted' && a.version === 4),
      5_000,
      50,
    );
    expect(announcements.filter((a) => a.change !== 'added')).toEqual([
      { model: 'delays', version: 1, defaultVersion: 1, change: 'pinned' },
      { model: 'delays', version: 1, defaultVersion: 1, change: 'unpinned' },
      { model: 'delays', version: 4, defaultVersion: 4, change: 'promoted' },
    ]);

    const diverged = await submitRunning(oneEpoch());
    // JSON has no NaN: a role whose weights or metrics are not finite says so with finite: false.
    await trainToEnd(diverged.id, [0.5], { loss: 0.5, finite: false });
    const failed = await untilState(diverged.id, 'FAILED');
    expect(failed.reason).toBe('model not exported: the exported weights are not all finite');
    expect(failed.modelVersion).toBeNull();
  });

  it('cancels a running job and stops every role; cancelling again is a conflict', async () => {
    const created = await submitRunning(spec({ name: 'to-cancel' }));
    const cancelled = (await http().post(`/v1/jobs/${created.id}/cancel`).expect(200))
      .body as JobView;
    expect(cancelled.state).toBe('CANCELLED');
    const stopped = nodes.flatMap((n) => n.stopped).filter((t) => t.jobId === created.id);
    expect(stopped.map((t) => t.role).sort()).toEqual(['ps-0', 'worker-0', 'worker-1']);
    expect(
      (await http().post(`/v1/jobs/${created.id}/cancel`).expect(409)).body.error.message,
    ).toBe(`job "${created.id}" is CANCELLED already`);
    await http().post('/v1/jobs/no-such-job/cancel').expect(404);
    const recorded = await events(created.id);
    expect(recorded.filter((e) => e.type === 'job-state').map((e) => e.to)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'CANCELLED',
    ]);
    expect(recorded.filter((e) => e.role === 'ps-0').map((e) => e.to)).toEqual([
      'ASSIGNED',
      'RUNNING',
      'DONE',
    ]);
  });

  it('fails a job when a role fails, stopping the others; the epoch gate refuses a superseded token', async () => {
    const created = await submitRunning(spec({ name: 'to-fail' }));
    const worker = fakeRole(created.id, 'worker-1');
    const stale = new FakeRole(nc, subjects, {
      ...worker.token,
      attempt: worker.token.attempt + 1,
    });
    await expect(stale.gate(0, 5_000)).rejects.toThrow(/superseded/);
    worker.report({ type: 'failed', reason: 'out of memory', retryable: false });
    const failed = await untilState(created.id, 'FAILED');
    expect(failed.reason).toBe('worker-1 failed: out of memory');
    await waitFor(
      'stops',
      () => nodes.flatMap((n) => n.stopped).filter((t) => t.jobId === created.id).length === 2,
      5_000,
      50,
    );
  });

  it('fails a job whose worker finishes before the last epoch when no restart is allowed', async () => {
    const created = await submitRunning(spec({ name: 'cut-short', failover: { maxAttempts: 0 } }));
    fakeRole(created.id, 'worker-0').report({ type: 'finished' });
    const failed = await untilState(created.id, 'FAILED');
    expect(failed.reason).toBe(
      'worker-0 lost: ended before the job finished (finished) (attempts exhausted: worker-0 failed 1 time(s), failover.maxAttempts is 0)',
    );
  });

  it('prepares the examples when only a pipeline name is given and records the version', async () => {
    const created = await submit(spec({ name: 'prepared', examples: { pipeline: 'fresh' } }));
    expect(created.state).toBe('PREPARING');
    expect(created.pipelineVersion).toBeNull();
    await waitFor(
      'ps-0 assigned',
      () => rolesOf(created.id).some((r) => r.token.role === 'ps-0'),
      15_000,
      20,
    );
    await waitFor(
      'the wait for the ps',
      async () => (await job(created.id)).reason === 'waiting for the ps shards to start',
      5_000,
      20,
    );
    fakeRole(created.id, 'ps-0').report({ type: 'started' });
    const running = await untilState(created.id, 'RUNNING');
    expect(running.pipelineVersion).toBe(1);
    // The view is read from memory, the events from SQL once the change is committed.
    const states = await waitFor(
      'RUNNING recorded',
      async () => {
        const recorded = (await events(created.id))
          .filter((e) => e.type === 'job-state')
          .map((e) => e.to);
        return recorded.includes('RUNNING') ? recorded : undefined;
      },
      5_000,
      20,
    );
    expect(states).toEqual(['SUBMITTED', 'PREPARING', 'SCHEDULING', 'RUNNING']);
    await http().post(`/v1/jobs/${created.id}/cancel`).expect(200);
  });

  it('reloads a running job after an AM restart and finishes it', async () => {
    const created = await submitRunning(
      spec({
        name: 'restarted',
        training: { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', learningRate: 0.1 } },
      }),
    );
    await app.close();
    app = await startAm();
    const reloaded = await job(created.id);
    expect(reloaded.state).toBe('RUNNING');
    expect(reloaded.roles.map((r) => r.state)).toEqual(['RUNNING', 'ASSIGNED', 'ASSIGNED']);
    await trainToEnd(created.id, [0.4], { loss: 0.4 });
    expect((await untilState(created.id, 'SUCCEEDED')).modelVersion).toBe(5);
    const listed = (await http().get('/v1/jobs').expect(200)).body.jobs as JobView[];
    expect(listed.map((j) => j.id)).toContain(created.id);
    expect(listed.every((j) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(j.state))).toBe(true);
    const all = await events(created.id);
    const page = (
      await http()
        .get(`/v1/jobs/${created.id}/events?after=${all.length - 2}`)
        .expect(200)
    ).body.events as JobEvent[];
    expect(page).toEqual(all.slice(-2));
    await http().get(`/v1/jobs/${created.id}/events?after=-1`).expect(400);
    await http().get('/v1/jobs/Bad.Id').expect(400);
  });

  it('fails a running job whose node is lost when no restart is allowed', async () => {
    const created = await submitRunning(spec({ name: 'node-lost', failover: { maxAttempts: 0 } }));
    const victim = nodeOf({ jobId: created.id, role: 'worker-0' });
    victim.silence();
    const failed = await untilState(created.id, 'FAILED', 10_000);
    expect(failed.reason).toMatch(
      new RegExp(`^worker-0 lost: node ${victim.nodeId} is lost \\(attempts exhausted`),
    );
    expect(failed.roles.find((r) => r.role === 'worker-0')?.state).toBe('LOST');
  });
});
