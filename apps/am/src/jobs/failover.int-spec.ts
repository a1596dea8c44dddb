import 'reflect-metadata';
import {
  FencingToken,
  JobControlNotice,
  jobControlNoticeSchema,
  JobSpecInput,
  JobView,
  RoleConfig,
  Subjects,
} from '@dln/contracts';
import { connectNats, decodeJson, NatsConnection } from '@dln/messaging';
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
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAmConfig } from '../am.config';
import { jobsApi, startTestAm } from './fixtures/am-test-app';
import { fakeFeatureService, FakeNode, FakeRole, fakeVersion } from './fixtures/fake-peers';

const HEARTBEAT_MS = 200;

const spec = (name: string, overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name,
  examples: { pipeline: 'flights', version: 1 },
  model: { kind: 'mlp', hidden: [4] },
  training: {
    epochs: 1,
    batchSize: 16,
    optimizer: { kind: 'sgd', learningRate: 0.1 },
    keepCheckpoints: 2,
  },
  cluster: { workers: 2, ps: 1 },
  output: { model: name },
  failover: { backoffMs: 100, maxBackoffMs: 400 },
  ...overrides,
});

interface Assignment {
  token: FencingToken;
  config: RoleConfig;
  node: FakeNode;
}

describe.each(TEST_DATABASES)('am failover on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`am_failover_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-am-failover-'));
  const config = loadAmConfig({
    NATS_URL: TEST_NATS_URL,
    SUBJECT_ROOT: root,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    DB_SCHEMA: root,
    HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
    NODE_SWEEP_INTERVAL_MS: '50',
    NODE_RESTORE_GRACE_MS: '500',
    JOB_SCHEDULING_INTERVAL_MS: '50',
    JOB_PROGRESS_EVENT_MS: '0',
    ROLE_STOP_GRACE_MS: '100',
    ROLE_STOP_RETRY_MS: '50',
    ORPHAN_ROLE_GRACE_MS: '400',
    ROLE_MISSING_GRACE_MS: '800',
    EXPORT_GRACE_MS: '300',
    PIPELINE_DESCRIBE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'error',
  });
  const versions = new Map([['flights', [fakeVersion('flights', 1, 'done')]]]);
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  let feature: { unsubscribe(): void };
  const nodes: FakeNode[] = [];
  const notices: JobControlNotice[] = [];
  const submitted: string[] = [];

  const startAm = () => startTestAm(config);
  const { http, job, events, untilState } = jobsApi(() => app);
  const jobStates = async (id: string) =>
    (await events(id)).filter((e) => e.type === 'job-state').map((e) => e.to);
  /** The newest assignment of a role (highest generation, then attempt), or undefined. */
  const latest = (jobId: string, role: string): Assignment | undefined =>
    nodes
      .flatMap((node) => node.rolesOf(jobId).map((assigned) => ({ ...assigned, node })))
      .filter((assigned) => assigned.token.role === role)
      .sort(
        (a, b) => b.token.generation - a.token.generation || b.token.attempt - a.token.attempt,
      )[0];
  const untilAssigned = (jobId: string, role: string, generation: number, attempt: number) =>
    waitFor(
      `${role} g${generation}a${attempt} of ${jobId} assigned`,
      () => {
        const found = latest(jobId, role);
        return found && found.token.generation === generation && found.token.attempt === attempt
          ? found
          : undefined;
      },
      15_000,
      20,
    );
  const roleOf = (jobId: string, role: string) => {
    const found = latest(jobId, role);
    if (!found) throw new Error(`${role} of ${jobId} was not assigned`);
    return new FakeRole(nc, subjects, found.token);
  };
  /** Role processes of the job that some node still runs. */
  const runningOf = (jobId: string) =>
    nodes.flatMap((node) => node.running.filter((role) => role.token.jobId === jobId));

  async function submitRunning(input: JobSpecInput): Promise<JobView> {
    const res = await http().post('/v1/jobs').send(input);
    if (res.status !== 201)
      throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body)}`);
    const created = res.body as JobView;
    submitted.push(created.id);
    await untilAssigned(created.id, 'ps-0', 0, 0);
    roleOf(created.id, 'ps-0').report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    for (const role of ['worker-0', 'worker-1'])
      roleOf(created.id, role).report({ type: 'started' });
    await waitFor(
      'every role RUNNING',
      async () => (await job(created.id)).roles.every((r) => r.state === 'RUNNING'),
      5_000,
      20,
    );
    return created;
  }

  /** The current workers pass the last epoch's gate, worker 0 exports, both finish and exit. */
  async function finish(jobId: string): Promise<JobView> {
    const workers = [roleOf(jobId, 'worker-0'), roleOf(jobId, 'worker-1')];
    workers[0]!.report({ type: 'evaluation', epoch: 0, metrics: { loss: 0.4, examples: 20 } });
    for (const reply of await Promise.all(workers.map((worker) => worker.gate(0))))
      expect(reply.proceed).toBe(false);
    workers[0]!.report({
      type: 'exported',
      objects: [`${jobId}/model.json`],
      metrics: { loss: 0.4, examples: 20 },
      trainExamples: 80,
      finite: true,
    });
    for (const worker of workers) worker.report({ type: 'finished' });
    for (const worker of workers) {
      const assigned = latest(jobId, worker.token.role)!;
      await assigned.node.exit(worker.token, 'completed', 0);
    }
    return untilState(jobId, 'SUCCEEDED');
  }

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'am-failover-test' });
    feature = fakeFeatureService(nc, subjects, versions);
    nc.subscribe(`${root}.jobs.*.control`, {
      callback: (_e, msg) => void notices.push(jobControlNoticeSchema.parse(decodeJson(msg.data))),
    });
    app = await startAm();
    for (const [id, nodeKind] of [
      ['p1', 'parameter-server'],
      ['p2', 'parameter-server'],
      ['w1', 'worker'],
      ['w2', 'worker'],
      ['w3', 'worker'],
    ] as const) {
      const node = new FakeNode(nc, subjects, id, nodeKind, 2);
      await node.start(HEARTBEAT_MS);
      nodes.push(node);
    }
  });

  // A case that fails must not hold the slots the next one needs.
  afterEach(async () => {
    for (const id of submitted.splice(0)) await http().post(`/v1/jobs/${id}/cancel`);
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

  it('worker node lost: the worker is replaced (attempt + 1, its position), survivors told, RUNNING again; the old incarnation is stopped when its node returns', async () => {
    const created = await submitRunning(spec('wlost'));
    const first = latest(created.id, 'worker-0')!;
    new FakeRole(nc, subjects, first.token).report({
      type: 'progress',
      epoch: 0,
      step: 3,
      loss: 0.6,
      examples: 48,
      examplesPerSecond: 100,
    });
    await waitFor('progress', async () => (await job(created.id)).progress.step === 3, 5_000, 20);
    const victim = first.node;
    victim.silence();
    const replacement = await untilAssigned(created.id, 'worker-0', 0, 1);
    expect(replacement.node.nodeId).not.toBe(victim.nodeId);
    expect(replacement.config).toMatchObject({
      token: { generation: 0, attempt: 1 },
      start: 'replacement',
      restoreFrom: null,
      resume: { epoch: 0, step: 3, examples: 48 },
    });
    const recovering = await job(created.id);
    expect(recovering.state).toBe('RECOVERING');
    expect(recovering.reason).toBeTruthy();
    expect(notices).toContainEqual({
      type: 'role-replaced',
      jobId: created.id,
      superseded: first.token,
      by: replacement.token,
      reason: `worker-0 lost: node ${victim.nodeId} is lost`,
    });
    // The superseded incarnation is fenced: its gate request is refused, its reports ignored.
    const stale = new FakeRole(nc, subjects, first.token);
    await expect(stale.gate(0, 5_000)).rejects.toThrow(/superseded/);
    stale.report({ type: 'failed', reason: 'late', retryable: false });
    new FakeRole(nc, subjects, replacement.token).report({ type: 'started' });
    const running = await untilState(created.id, 'RUNNING');
    expect(running.roles.find((r) => r.role === 'worker-0')).toMatchObject({
      state: 'RUNNING',
      attempt: 1,
      nodeId: replacement.node.nodeId,
    });
    expect(await jobStates(created.id)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'RECOVERING',
      'RUNNING',
    ]);
    const worker0 = (await events(created.id))
      .filter((e) => e.type === 'role-state' && e.role === 'worker-0')
      .map((e) => [e.detail['attempt'], e.to]);
    expect(worker0).toEqual([
      [0, 'ASSIGNED'],
      [0, 'RUNNING'],
      [0, 'LOST'],
      [0, 'SUPERSEDED'],
      [1, 'ASSIGNED'],
      [1, 'RUNNING'],
    ]);
    // The node comes back still running the old incarnation: the AM stops it.
    victim.resume(HEARTBEAT_MS);
    await waitFor(
      'old incarnation stopped',
      () => victim.stopped.some((t) => t.jobId === created.id && t.attempt === 0),
      10_000,
      50,
    );
    const done = await finish(created.id);
    expect(done.roles.map((r) => [r.role, r.state, r.attempt])).toEqual([
      ['ps-0', 'DONE', 0],
      ['worker-0', 'DONE', 1],
      ['worker-1', 'DONE', 0],
    ]);
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
  });

  it('ps lost in sync mode: generation + 1, every role restarts from the last complete checkpoint', async () => {
    const created = await submitRunning(spec('pslost'));
    const ps = latest(created.id, 'ps-0')!;
    const bucket = await new Objm(nc).create(subjects.bucket('checkpoints'));
    const object = `${created.id}/g0/step-4/shard-0`;
    await bucket.putBlob({ name: object }, new Uint8Array([1, 2, 3, 4]));
    new FakeRole(nc, subjects, ps.token).report({
      type: 'checkpoint',
      shard: 0,
      step: 4,
      updateCount: 4,
      object,
    });
    const manifest = `${created.id}/g0/step-4/manifest.json`;
    await waitFor(
      'checkpoint',
      async () => (await events(created.id)).some((e) => e.type === 'checkpoint'),
      5_000,
      50,
    );
    const oldWorkers = ['worker-0', 'worker-1'].map((role) => latest(created.id, role)!);
    await ps.node.exit(ps.token, 'crashed', 137);
    const newPs = await untilAssigned(created.id, 'ps-0', 1, 0);
    expect(newPs.config).toMatchObject({ start: 'rollback', restoreFrom: manifest });
    const rolledBack = await job(created.id);
    expect(rolledBack).toMatchObject({ state: 'RECOVERING', generation: 1 });
    const recovering = (await events(created.id)).find((e) => e.to === 'RECOVERING');
    expect(recovering?.detail['reason']).toBe('ps-0 failed: process crashed (code 137)');
    // Every worker of generation 0 is stopped before any of generation 1 is assigned.
    for (const worker of oldWorkers)
      await waitFor(
        `${worker.token.role} g0 stopped`,
        () =>
          worker.node.stopped.some((t) => t.jobId === created.id && t.role === worker.token.role),
        5_000,
        20,
      );
    expect(latest(created.id, 'worker-0')!.token.generation).toBe(0);
    expect(notices).toContainEqual({
      type: 'generation',
      jobId: created.id,
      generation: 1,
      restoreFrom: manifest,
      reason:
        'ps-0 failed: process crashed (code 137) (a ps shard in sync mode rolls every role back)',
    });
    new FakeRole(nc, subjects, newPs.token).report({ type: 'started' });
    for (const role of ['worker-0', 'worker-1']) {
      const assigned = await untilAssigned(created.id, role, 1, 0);
      expect(assigned.config).toMatchObject({ start: 'rollback', restoreFrom: manifest });
      new FakeRole(nc, subjects, assigned.token).report({ type: 'started' });
    }
    await untilState(created.id, 'RUNNING');
    // Generation 0 is refused from now on.
    await expect(new FakeRole(nc, subjects, oldWorkers[0]!.token).gate(0, 5_000)).rejects.toThrow(
      /superseded/,
    );
    const done = await finish(created.id);
    expect(done.generation).toBe(1);
    expect(await jobStates(created.id)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'RECOVERING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
  });

  it('ps lost in async mode: only the shard is restored (attempt + 1), the workers go on, the lost updates are estimated', async () => {
    const created = await submitRunning(
      spec('asyncps', {
        training: {
          epochs: 1,
          batchSize: 16,
          optimizer: { kind: 'sgd', learningRate: 0.1 },
          updateMode: 'async',
        },
      }),
    );
    const ps = latest(created.id, 'ps-0')!;
    const bucket = await new Objm(nc).create(subjects.bucket('checkpoints'));
    const object = `${created.id}/g0/step-2/shard-0`;
    await bucket.putBlob({ name: object }, new Uint8Array([1, 2, 3, 4]));
    new FakeRole(nc, subjects, ps.token).report({
      type: 'checkpoint',
      shard: 0,
      step: 2,
      updateCount: 2,
      object,
    });
    await waitFor(
      'checkpoint',
      async () => (await events(created.id)).some((e) => e.type === 'checkpoint'),
      5_000,
      50,
    );
    for (const role of ['worker-0', 'worker-1'])
      roleOf(created.id, role).report({
        type: 'progress',
        epoch: 0,
        step: 5,
        loss: 0.5,
        examples: 80,
        examplesPerSecond: 10,
      });
    await waitFor('progress', async () => (await job(created.id)).progress.step === 5, 5_000, 20);
    await ps.node.exit(ps.token, 'crashed', 1);
    const replacement = await untilAssigned(created.id, 'ps-0', 0, 1);
    expect(replacement.config).toMatchObject({
      start: 'replacement',
      restoreFrom: `${created.id}/g0/step-2/manifest.json`,
    });
    const restored = (await events(created.id)).find((e) => e.detail['shardRestored'] === 0);
    // The manifest has no worker positions (none reported before it): 5 + 5 steps since.
    expect(restored?.detail).toMatchObject({ checkpointStep: 2, lostUpdatesEstimate: 10 });
    new FakeRole(nc, subjects, replacement.token).report({ type: 'started' });
    const running = await untilState(created.id, 'RUNNING');
    expect(running.generation).toBe(0);
    expect(running.roles.map((r) => [r.role, r.attempt])).toEqual([
      ['ps-0', 1],
      ['worker-0', 0],
      ['worker-1', 0],
    ]);
    expect(nodes.flatMap((n) => n.stopped).filter((t) => t.jobId === created.id)).toEqual([]);
  });

  it('fails the job promptly, with the reason, once a role has used up its attempts; no role is left', async () => {
    const created = await submitRunning(
      spec('exhausted', { failover: { maxAttempts: 2, backoffMs: 50, maxBackoffMs: 100 } }),
    );
    for (let attempt = 0; attempt <= 2; attempt += 1) {
      const current = await untilAssigned(created.id, 'worker-1', 0, attempt);
      if (attempt > 0) new FakeRole(nc, subjects, current.token).report({ type: 'started' });
      await current.node.exit(current.token, 'crashed', 1);
    }
    const crashedAt = Date.now();
    const failed = await untilState(created.id, 'FAILED', 5_000);
    expect(Date.now() - crashedAt).toBeLessThan(2_000);
    expect(failed.reason).toBe(
      'worker-1 failed: process crashed (code 1) (attempts exhausted: worker-1 failed 3 time(s), failover.maxAttempts is 2)',
    );
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
  });

  it('fails the job at once for a failure a retry cannot help, stopping every role', async () => {
    const created = await submitRunning(spec('hopeless'));
    roleOf(created.id, 'ps-0').report({
      type: 'failed',
      reason: 'the model does not fit in memory',
      retryable: false,
    });
    const failed = await untilState(created.id, 'FAILED', 5_000);
    expect(failed.reason).toBe('ps-0 failed: the model does not fit in memory');
    expect(failed.generation).toBe(0);
    expect(failed.roles.every((r) => r.attempt === 0)).toBe(true);
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
  });

  it('AM restart mid-job: live roles are re-adopted by heartbeat, one that vanished meanwhile is replaced, the job finishes', async () => {
    const created = await submitRunning(spec('amrestart'));
    await app.close();
    const gone = latest(created.id, 'worker-1')!;
    gone.node.vanish(gone.token);
    app = await startAm();
    const replacement = await untilAssigned(created.id, 'worker-1', 0, 1);
    const view = await job(created.id);
    expect(view.state).toBe('RECOVERING');
    expect(view.roles.find((r) => r.role === 'worker-0')).toMatchObject({
      state: 'RUNNING',
      attempt: 0,
    });
    const lostEvent = (await events(created.id)).find(
      (e) => e.type === 'role-state' && e.role === 'worker-1' && e.to === 'LOST',
    );
    expect(lostEvent?.detail['reason']).toMatch(
      new RegExp(`^node ${gone.node.nodeId} no longer runs it`),
    );
    new FakeRole(nc, subjects, replacement.token).report({ type: 'started' });
    await untilState(created.id, 'RUNNING');
    const done = await finish(created.id);
    expect(done.roles.map((r) => [r.role, r.attempt])).toEqual([
      ['ps-0', 0],
      ['worker-0', 0],
      ['worker-1', 1],
    ]);
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
  });

  it('a node that restarts loses its roles at once; cancel leaves no role running', async () => {
    const created = await submitRunning(spec('noderestart'));
    const victim = latest(created.id, 'worker-0')!;
    await waitFor(
      'the role in its node heartbeats',
      async () =>
        (
          (await http().get(`/v1/nodes/${victim.node.nodeId}`).expect(200)).body as {
            runningRoles: { token: FencingToken }[];
          }
        ).runningRoles.some((r) => r.token.jobId === created.id),
      5_000,
      50,
    );
    await victim.node.restart(HEARTBEAT_MS);
    await untilAssigned(created.id, 'worker-0', 0, 1);
    const lost = (await events(created.id)).find(
      (e) => e.type === 'role-state' && e.role === 'worker-0' && e.to === 'LOST',
    );
    expect(lost?.detail['reason']).toMatch(new RegExp(`^node ${victim.node.nodeId} restarted`));
    await http().post(`/v1/jobs/${created.id}/cancel`).expect(200);
    await waitFor('no role left', () => runningOf(created.id).length === 0, 5_000, 50);
    expect((await job(created.id)).roles.map((r) => r.state)).toEqual([
      'DONE',
      'SUPERSEDED',
      'DONE',
    ]);
  });
});
