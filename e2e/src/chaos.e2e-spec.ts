import { JobView, NodeList, Subjects } from '@dln/contracts';
import { flightsPipelineSpec, flightsSourceDeclaration } from '@dln/features';
import { flightsJobSpec } from '@dln/jobs';
import { connectNats, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { call, PrivateNatsServer, ServiceProcess, uniqueRoot, waitFor } from '@dln/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 4's chaos suite: the flights batch job over separate processes on a private nats-server,
// one SIGKILL (or a NATS restart) per case at a fixed point of the job's progress. Every case:
// the job succeeds, AUC >= 0.64 and within 0.01 of the undisturbed run, no role process is left.
const EPOCHS = 3;
/** The kill point: this many steps into the job (an epoch is ~35 sync steps). */
const KILL_STEP = 20;
const JOB_DEADLINE_MS = 180_000;
const WORKER_NODES = ['w1', 'w2', 'w3'];
const FAILOVER = { backoffMs: 200, maxBackoffMs: 1_000 };

const flights = JSON.parse(
  readFileSync(
    join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-20k.json'),
    'utf8',
  ),
) as unknown[];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of a process's children (`ps --ppid`; exits 1 when there are none). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['--ppid', String(pid), '-o', 'pid='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

describe('chaos: the flights job survives any single kill', () => {
  const root = uniqueRoot('chaos_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-chaos-e2e-'));
  const services = new Map<string, ServiceProcess>();
  let nats: PrivateNatsServer;
  let nc: NatsConnection;
  let baselineAuc = 0;

  const env = (): Record<string, string> => ({
    NATS_URL: nats.url,
    SUBJECT_ROOT: root,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    HEARTBEAT_INTERVAL_MS: '250',
  });
  const start = async (key: string, app: string, extra: Record<string, string> = {}) => {
    const service = await ServiceProcess.start({ app, env: { ...env(), ...extra } });
    services.set(key, service);
    return service;
  };
  const startAm = () =>
    start('am', 'am', {
      JOB_SCHEDULING_INTERVAL_MS: '200',
      JOB_PROGRESS_EVENT_MS: '200',
      NODE_SWEEP_INTERVAL_MS: '100',
      ROLE_MISSING_GRACE_MS: '1500',
      ORPHAN_ROLE_GRACE_MS: '2000',
    });
  const nodeEnv = (id: string, slots: number) => ({
    NODE_ID: id,
    NODE_SLOTS: String(slots),
    AM_RETRY_MAX_MS: '500',
    ROLE_STOP_GRACE_MS: '2000',
  });
  const startWorkerNode = (id: string) => start(id, 'worker', nodeEnv(id, 1));
  const am = () => services.get('am')!.url;
  const view = async (id: string) => (await call<JobView>('GET', `${am()}/v1/jobs/${id}`)).body;
  const nodes = async () => (await call<NodeList>('GET', `${am()}/v1/nodes`)).body.nodes;

  /** The pid of a role of the job as its node reports it to the AM. */
  const rolePid = (jobId: string, role: string, attempt?: number) =>
    waitFor(
      `${role} of ${jobId} running`,
      async () => {
        for (const node of await nodes())
          for (const running of node.runningRoles)
            if (
              running.token.jobId === jobId &&
              running.token.role === role &&
              running.state === 'running' &&
              (attempt === undefined || running.token.attempt === attempt)
            )
              return { pid: running.pid, nodeId: node.nodeId };
        return undefined;
      },
      60_000,
      50,
    );

  const submit = async (spec: unknown): Promise<string> => {
    const submitted = await call<JobView>('POST', `${am()}/v1/jobs`, spec);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    return submitted.body.id;
  };
  const stepReached = (id: string, step: number) =>
    waitFor(
      `job ${id} at step ${step}`,
      async () => {
        const current = await view(id);
        if (['FAILED', 'CANCELLED', 'SUCCEEDED'].includes(current.state))
          throw new Error(`job ended early: ${current.state} ${current.reason}`);
        return current.state === 'RUNNING' && current.progress.step >= step ? current : undefined;
      },
      JOB_DEADLINE_MS,
      50,
    );
  const ended = (id: string, timeoutMs = JOB_DEADLINE_MS) =>
    waitFor(
      `job ${id} to end`,
      async () => {
        const current = await view(id).catch(() => undefined);
        return current && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(current.state)
          ? current
          : undefined;
      },
      timeoutMs,
      250,
    );
  const jobSpec = (failover: Record<string, number> = {}) => ({
    ...flightsJobSpec('flights', 1),
    training: { ...flightsJobSpec('flights', 1).training, epochs: EPOCHS },
    failover: { ...FAILOVER, ...failover },
  });

  /** Every pid given is gone, no node process has a child, no node reports a role. */
  const noRoleLeft = async (pids: number[]) => {
    await waitFor(
      'no role process left',
      async () => {
        if (pids.some(isAlive)) return false;
        for (const [key, service] of services)
          if (key !== 'am' && service.running && childPids(service.pid!).length > 0) return false;
        return (await nodes()).every((n) => n.runningRoles.length === 0);
      },
      30_000,
      200,
    );
  };
  /** Every role pid of the job the nodes report now. */
  const jobPids = async (jobId: string) =>
    (await nodes()).flatMap((n) =>
      n.runningRoles.filter((r) => r.token.jobId === jobId).map((r) => r.pid),
    );

  const expectGoodRun = (job: JobView) => {
    expect(job.state, job.reason ?? '').toBe('SUCCEEDED');
    const auc = job.validation.at(-1)!.metrics.auc!;
    expect(auc).toBeGreaterThanOrEqual(0.64);
    expect(Math.abs(auc - baselineAuc)).toBeLessThanOrEqual(0.01);
    return auc;
  };

  /** Runs one job, disturbing it at the kill point; asserts the common outcome. */
  const chaosCase = async (
    disturb: (jobId: string, at: JobView) => Promise<void>,
    spec: unknown = jobSpec(),
  ) => {
    const id = await submit(spec);
    const at = await stepReached(id, KILL_STEP);
    const pids = await jobPids(id);
    await disturb(id, at);
    const job = await ended(id);
    const auc = expectGoodRun(job);
    await noRoleLeft(pids);
    process.stdout.write(`${JSON.stringify({ job: id, auc, baselineAuc })}\n`);
    return job;
  };

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    nc = await connectNats({ servers: nats.url, name: 'chaos-e2e' });
    await startAm();
    await start('ingest', 'ingest');
    await start('feature', 'feature');
    await start('p1', 'parameter-server', nodeEnv('p1', 2));
    for (const id of WORKER_NODES) await startWorkerNode(id);
    const ingest = services.get('ingest')!.url;
    expect(
      (await call('POST', `${ingest}/v1/sources`, flightsSourceDeclaration('flights'))).status,
    ).toBe(201);
    for (let offset = 0; offset < flights.length; offset += 5_000) {
      const res = await call<{ accepted: number }>(
        'POST',
        `${ingest}/v1/sources/flights/records?idFrom=row&idOffset=${offset}`,
        flights.slice(offset, offset + 5_000),
      );
      expect(res.body.accepted).toBe(5_000);
    }
    const feature = services.get('feature')!.url;
    expect(
      (await call('POST', `${feature}/v1/pipelines`, flightsPipelineSpec('flights', 'flights')))
        .status,
    ).toBe(201);
    expect((await call('POST', `${feature}/v1/pipelines/flights/fit`)).status).toBe(201);
    const materialized = await call<{ materialization: { status: string } }>(
      'POST',
      `${feature}/v1/pipelines/flights/versions/1/materialize`,
    );
    expect(materialized.body.materialization.status).toBe('done');
    await waitFor(
      'every node ALIVE',
      async () => (await nodes()).filter((n) => n.status === 'ALIVE').length === 4,
      30_000,
    );
  }, 240_000);

  afterAll(async () => {
    await Promise.all([...services.values()].map((s) => s.stop('SIGTERM', 5_000)));
    await nc?.close();
    await nats?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('undisturbed: the baseline run', async () => {
    const id = await submit(jobSpec());
    await stepReached(id, KILL_STEP);
    const pids = await jobPids(id);
    const job = await ended(id);
    expect(job.state, job.reason ?? '').toBe('SUCCEEDED');
    baselineAuc = job.validation.at(-1)!.metrics.auc!;
    expect(baselineAuc).toBeGreaterThanOrEqual(0.64);
    await noRoleLeft(pids);
    process.stdout.write(`${JSON.stringify({ job: id, baselineAuc })}\n`);
  });

  it('SIGKILL of one worker role process', async () => {
    const job = await chaosCase(async (id) => {
      process.kill((await rolePid(id, 'worker-1')).pid, 'SIGKILL');
    });
    expect(job.roles.find((r) => r.role === 'worker-1' && r.state === 'DONE')?.attempt).toBe(1);
  });

  it('SIGKILL of a whole worker node with its children (the spare node takes the role)', async () => {
    let lostNode = '';
    const job = await chaosCase(async (id) => {
      const { pid, nodeId } = await rolePid(id, 'worker-0');
      lostNode = nodeId;
      await services.get(nodeId)!.stop('SIGKILL');
      await waitFor('the role to die with its node', () => !isAlive(pid), 10_000);
    });
    const replaced = job.roles.find((r) => r.role === 'worker-0' && r.state === 'DONE');
    expect(replaced?.nodeId).not.toBe(lostNode);
    await startWorkerNode(lostNode);
    await waitFor('the node back', async () =>
      (await nodes()).some((n) => n.nodeId === lostNode && n.status === 'ALIVE'),
    );
  });

  it('SIGKILL of the ps role process', async () => {
    const job = await chaosCase(async (id) => {
      process.kill((await rolePid(id, 'ps-0')).pid, 'SIGKILL');
    });
    expect(job.generation).toBeGreaterThanOrEqual(1);
  });

  it('SIGKILL of the AM, restarted on the same database: the job goes on', async () => {
    await chaosCase(async () => {
      await services.get('am')!.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_000));
      await startAm();
    });
  });

  it('a NATS restart mid-job: no node declared LOST, no rollback', async () => {
    const job = await chaosCase(async () => {
      await nats.stop();
      await new Promise((r) => setTimeout(r, 1_000));
      await nats.resume();
    });
    expect(job.generation).toBe(0);
    expect(job.roles.every((r) => r.attempt === 0)).toBe(true);
  });

  it('SIGKILL of the feature service while it materializes: exactly one example per record', async () => {
    const feature = () => services.get('feature')!.url;
    expect(
      (
        await call(
          'POST',
          `${feature()}/v1/pipelines`,
          flightsPipelineSpec('flights_fm', 'flights'),
        )
      ).status,
    ).toBe(201);
    const spec = { ...jobSpec(), examples: { pipeline: 'flights_fm' } };
    const id = await submit(spec);
    await waitFor(
      'the materialization under way',
      async () => {
        const v = await call<{ materialization: { status: string; processed: number } }>(
          'GET',
          `${feature()}/v1/pipelines/flights_fm/versions/1`,
        );
        return v.status === 200 && v.body.materialization.status === 'running';
      },
      120_000,
      20,
    );
    await new Promise((r) => setTimeout(r, 100));
    await services.get('feature')!.stop('SIGKILL');
    expect((await view(id)).state).toBe('PREPARING');
    await start('feature', 'feature');
    const job = await ended(id);
    expectGoodRun(job);
    await noRoleLeft([]);
    expect(job.pipelineVersion).toBe(1);
    const version = await call<{
      recordCount: number;
      materialization: {
        status: string;
        counts: { train: number; validation: number; rejected: number };
      };
    }>('GET', `${feature()}/v1/pipelines/flights_fm/versions/1`);
    const { counts } = version.body.materialization;
    expect(version.body.materialization.status).toBe('done');
    expect(counts.train + counts.validation + counts.rejected).toBe(flights.length);
    const jsm = await jetStreamManagerOf(nc);
    const info = await jsm.streams.info(subjects.examplesStream('flights_fm'), {
      subjects_filter: subjects.examplesAll('flights_fm', 1),
    });
    const stored = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    expect(stored).toBe(counts.train + counts.validation);
  });

  it('kills the same worker until its attempts run out: the job fails with that reason, promptly', async () => {
    const id = await submit(jobSpec({ maxAttempts: 1 }));
    await stepReached(id, 10);
    const pids = await jobPids(id);
    process.kill((await rolePid(id, 'worker-0', 0)).pid, 'SIGKILL');
    const second = await rolePid(id, 'worker-0', 1);
    pids.push(second.pid);
    process.kill(second.pid, 'SIGKILL');
    const killedAt = Date.now();
    const job = await ended(id, 30_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(job.state).toBe('FAILED');
    expect(job.reason).toMatch(/attempts/);
    expect(job.reason).toMatch(/worker-0/);
    await noRoleLeft(pids);
  });
});
