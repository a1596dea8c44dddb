import { JobView, LeaseView, NodeList, Subjects } from '@dln/contracts';
import { connectNats, NatsConnection } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import {
  freePort,
  ok,
  PrivateNatsServer,
  ServiceProcess,
  TEST_DATABASE_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInForFeatureService, SYNTHETIC_PIPELINE } from './fixtures/synthetic-pipeline';

// Two AMs on one PostgreSQL schema and a private nats-server, as separate processes, with a
// parameter-server and a worker node running the real roles. One AM acts, the other is a
// standby; the active is SIGKILLed mid-job and the standby takes over and finishes the job.
const LEASE_MS = 3000;
/** Kill to REST answering on the new active: the lease, a standby poll, the AM's start-up. */
const TAKEOVER_BOUND_MS = LEASE_MS + 3000;
const PIPELINE = SYNTHETIC_PIPELINE;
const TRAIN = 1200;
const VALIDATION = 200;
const EPOCHS = 4;

interface Am {
  id: string;
  port: number;
  process: ServiceProcess;
  url: string;
}

type Health = { checks: { lease?: LeaseView & { ok: boolean } } };

async function lease(am: Am): Promise<LeaseView | undefined> {
  const response = await fetch(`${am.url}/health`).catch(() => undefined);
  return response ? ((await response.json()) as Health).checks.lease : undefined;
}

describe('a standby AM on PostgreSQL', () => {
  const root = uniqueRoot('am_standby_e2e');
  const subjects = new Subjects(root);
  const processes: ServiceProcess[] = [];
  let nats: PrivateNatsServer;
  let nc: NatsConnection;
  const env = (): Record<string, string> => ({
    NATS_URL: nats.url,
    SUBJECT_ROOT: root,
    LOG_LEVEL: 'info',
  });

  const startAm = async (id: string, port?: number): Promise<Am> => {
    const bound = port ?? (await freePort());
    const url = `http://127.0.0.1:${bound}`;
    const started = await ServiceProcess.start({
      app: 'am',
      env: {
        ...env(),
        PORT: String(bound),
        AM_ID: id,
        AM_ADVERTISED_URL: url,
        AM_LEASE_MS: String(LEASE_MS),
        DATABASE_URL: TEST_DATABASE_URL,
        DB_SCHEMA: root,
        HEARTBEAT_INTERVAL_MS: '250',
        JOB_PROGRESS_EVENT_MS: '200',
      },
    });
    processes.push(started);
    return { id, port: bound, process: started, url };
  };

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    nc = await connectNats({ servers: nats.url, name: 'am-standby-e2e' });
    await standInForFeatureService(nc, subjects, { train: TRAIN, validation: VALIDATION });
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM', 5_000)));
    await nc?.close();
    await nats?.dispose();
    await dropPostgresSchema(TEST_DATABASE_URL, root);
  });

  it('one of two AMs acts; SIGKILLed mid-job, the standby takes over within the lease and the job succeeds', async () => {
    const ams = await Promise.all([startAm('am-a'), startAm('am-b')]);
    const [active, standby] = await waitFor(
      'one AM active, the other standby naming it',
      async () => {
        const views = await Promise.all(ams.map(lease));
        const i = views.findIndex((v) => v?.state === 'ACTIVE');
        const other = views[1 - i];
        if (i < 0 || other?.state !== 'STANDBY' || other.holder?.id !== ams[i]!.id)
          return undefined;
        return [ams[i]!, ams[1 - i]!] as const;
      },
      30_000,
      50,
    );

    const refused = await fetch(`${standby.url}/v1/nodes`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      error: { code: 'UNAVAILABLE', retryable: true, message: expect.stringContaining(active.id) },
      activeAm: { id: active.id, url: active.url },
    });
    expect((await fetch(`${standby.url}/v1/jobs`, { method: 'POST', body: '{}' })).status).toBe(
      503,
    );
    expect((await fetch(`${standby.url}/metrics`)).status).toBe(200);

    for (const [app, nodeId] of [
      ['parameter-server', 'p1'],
      ['worker', 'w1'],
    ] as const) {
      processes.push(
        await ServiceProcess.start({
          app,
          env: { ...env(), NODE_ID: nodeId, NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
        }),
      );
    }
    await waitFor(
      'both nodes registered with the active AM',
      async () => (await ok<NodeList>('GET', `${active.url}/v1/nodes`)).nodes.length === 2,
      30_000,
    );

    const submitted = await ok<JobView>('POST', `${active.url}/v1/jobs`, {
      name: 'standby-e2e',
      examples: { pipeline: PIPELINE, version: 1 },
      model: { kind: 'logistic' },
      training: {
        epochs: EPOCHS,
        batchSize: 32,
        optimizer: { kind: 'sgd', learningRate: 0.5 },
        checkpointEvery: 5,
        keepCheckpoints: 2,
        seed: 7,
      },
      cluster: { workers: 2, ps: 1 },
      output: { model: 'synthetic' },
    });
    await waitFor(
      'the job training',
      async () => {
        const view = await ok<JobView>('GET', `${active.url}/v1/jobs/${submitted.id}`);
        return view.state === 'RUNNING' && view.progress.examplesSeen > 0;
      },
      120_000,
      50,
    );

    // Killed while training: the job is far from done (EPOCHS * TRAIN examples).
    const before = await ok<JobView>('GET', `${active.url}/v1/jobs/${submitted.id}`);
    expect(before.progress.examplesSeen).toBeLessThan((EPOCHS * TRAIN) / 2);
    await active.process.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      'the standby to answer /v1/nodes',
      async () => (await fetch(`${standby.url}/v1/nodes`)).status === 200,
      4 * TAKEOVER_BOUND_MS,
      20,
    );
    const takeoverMs = Date.now() - killedAt;
    process.stdout.write(`${JSON.stringify({ am_takeover_ms: takeoverMs, lease_ms: LEASE_MS })}\n`);
    expect(takeoverMs).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
    expect(await lease(standby)).toMatchObject({ state: 'ACTIVE', holder: { id: standby.id } });
    await waitFor(
      'both nodes alive on the new active',
      async () =>
        (await ok<NodeList>('GET', `${standby.url}/v1/nodes`)).nodes.filter(
          (n) => n.status === 'ALIVE',
        ).length === 2,
      30_000,
    );

    const done = await waitFor(
      'the job to end on the new active',
      async () => {
        const view = await ok<JobView>('GET', `${standby.url}/v1/jobs/${submitted.id}`);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(view.state) ? view : undefined;
      },
      240_000,
      250,
    );
    expect(done, JSON.stringify(done)).toMatchObject({ state: 'SUCCEEDED', modelVersion: 1 });
    expect(done.validation).toHaveLength(EPOCHS);
    expect(done.validation.at(-1)!.metrics.auc).toBeGreaterThan(0.9);
    expect(done.progress.examplesSeen).toBe(EPOCHS * TRAIN);

    // The killed AM, started again, is a standby that names the new active.
    const again = await startAm(active.id, active.port);
    await waitFor(
      'the restarted AM to see the new active',
      async () => (await lease(again))?.holder?.id === standby.id,
      30_000,
    );
    const body = (await (await fetch(`${again.url}/v1/jobs/${submitted.id}`)).json()) as {
      activeAm: unknown;
    };
    expect(body.activeAm).toEqual({ id: standby.id, url: standby.url });

    // A clean stop releases the lease: the other AM takes over without waiting for it to expire.
    const stoppedAt = Date.now();
    await standby.process.stop('SIGTERM');
    await waitFor(
      'the restarted AM to act',
      async () => (await fetch(`${again.url}/v1/nodes`)).status === 200,
      4 * TAKEOVER_BOUND_MS,
      20,
    );
    const handoverMs = Date.now() - stoppedAt;
    process.stdout.write(`${JSON.stringify({ am_handover_after_sigterm_ms: handoverMs })}\n`);
    expect(handoverMs).toBeLessThan(LEASE_MS);
    expect(standby.process.running).toBe(false);
  });
});
