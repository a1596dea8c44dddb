/**
 * npm run bench:failover — detection and recovery times of the flights job's failover, each kill
 * case at random steps (median of 3), on a private nats-server with every service a separate
 * process: a worker role SIGKILLed, its whole node SIGKILLed, the ps role SIGKILLed (detection:
 * kill -> the AM records the loss; recovery: kill -> the job's step past the pre-kill step), a
 * NATS restart (NATS back -> step past the pre-restart step), and the AM takeover (two AMs on
 * PostgreSQL with the lease: SIGKILL of the active -> the standby answers REST).
 * Last line: JSON {worker_detect_s, worker_recover_s, ps_detect_s, ps_recover_s, am_takeover_s,
 * nats_restart_recover_s}. BENCH_FAILOVER_ROUNDS (3), BENCH_FAILOVER_SEED, BENCH_FAILOVER_CASES (a
 * comma list of worker-role,worker-node,ps-role,nats-restart,am-takeover), BENCH_FAILOVER_TRACE=1
 * (the job events after each kill).
 */
import { JobEvent, JobView, LeaseView, NodeList } from '@dln/contracts';
import { flightsPipelineSpec, flightsSourceDeclaration } from '@dln/features';
import { flightsJobSpec } from '@dln/jobs';
import { dropPostgresSchema } from '@dln/persistence';
import {
  call,
  freePort,
  PrivateNatsServer,
  ServiceProcess,
  TEST_DATABASE_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROUNDS = Math.max(1, Number(process.env['BENCH_FAILOVER_ROUNDS'] ?? 3));
let seed = Number(process.env['BENCH_FAILOVER_SEED'] ?? Date.now() % 100_000);
const LEASE_MS = 3000;
const RUN_BOUND_MS = 120_000;
const TRACE = process.env['BENCH_FAILOVER_TRACE'] === '1';
const CASES = (
  process.env['BENCH_FAILOVER_CASES'] ?? 'worker-role,worker-node,ps-role,nats-restart,am-takeover'
).split(',');

/** mulberry32: the kill points are random but reproducible from the printed seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(3));
};
const say = (line: unknown) =>
  process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

class Cluster {
  readonly root = uniqueRoot('bench_failover');
  readonly dataDir = mkdtempSync(join(tmpdir(), 'dln-bench-failover-'));
  readonly services = new Map<string, ServiceProcess>();

  constructor(readonly nats: PrivateNatsServer) {}

  env(): Record<string, string> {
    return {
      NATS_URL: this.nats.url,
      SUBJECT_ROOT: this.root,
      DATA_DIR: this.dataDir,
      LOG_LEVEL: 'warn',
      HEARTBEAT_INTERVAL_MS: '250',
    };
  }

  async start(
    key: string,
    app: string,
    extra: Record<string, string> = {},
  ): Promise<ServiceProcess> {
    const service = await ServiceProcess.start({ app, env: { ...this.env(), ...extra } });
    this.services.set(key, service);
    return service;
  }

  startNode(
    id: string,
    app: 'worker' | 'parameter-server',
    slots: number,
  ): Promise<ServiceProcess> {
    return this.start(id, app, {
      NODE_ID: id,
      NODE_SLOTS: String(slots),
      AM_RETRY_MAX_MS: '500',
      ROLE_STOP_GRACE_MS: '2000',
    });
  }

  get am(): string {
    return this.services.get('am')!.url;
  }

  async view(id: string): Promise<JobView> {
    return (await call<JobView>('GET', `${this.am}/v1/jobs/${id}`)).body;
  }

  async nodes() {
    return (await call<NodeList>('GET', `${this.am}/v1/nodes`)).body.nodes;
  }

  async rolePid(jobId: string, role: string): Promise<{ pid: number; nodeId: string }> {
    return waitFor(
      `${role} running`,
      async () => {
        for (const node of await this.nodes())
          for (const r of node.runningRoles)
            if (r.token.jobId === jobId && r.token.role === role && r.state === 'running')
              return { pid: r.pid, nodeId: node.nodeId };
        return undefined;
      },
      60_000,
      20,
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stop('SIGTERM', 5_000)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function setUp(cluster: Cluster): Promise<void> {
  await cluster.start('am', 'am', {
    JOB_SCHEDULING_INTERVAL_MS: '200',
    JOB_PROGRESS_EVENT_MS: '100',
    NODE_SWEEP_INTERVAL_MS: '50',
    ROLE_MISSING_GRACE_MS: '1500',
    ORPHAN_ROLE_GRACE_MS: '2000',
  });
  await cluster.start('ingest', 'ingest');
  await cluster.start('feature', 'feature');
  await cluster.startNode('p1', 'parameter-server', 2);
  for (const id of ['w1', 'w2', 'w3']) await cluster.startNode(id, 'worker', 1);
  const flights = JSON.parse(
    readFileSync(
      join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-20k.json'),
      'utf8',
    ),
  ) as unknown[];
  const ingest = cluster.services.get('ingest')!.url;
  await call('POST', `${ingest}/v1/sources`, flightsSourceDeclaration('flights'));
  for (let offset = 0; offset < flights.length; offset += 5_000)
    await call(
      'POST',
      `${ingest}/v1/sources/flights/records?idFrom=row&idOffset=${offset}`,
      flights.slice(offset, offset + 5_000),
    );
  const feature = cluster.services.get('feature')!.url;
  await call('POST', `${feature}/v1/pipelines`, flightsPipelineSpec('flights', 'flights'));
  await call('POST', `${feature}/v1/pipelines/flights/fit`);
  await call('POST', `${feature}/v1/pipelines/flights/versions/1/materialize`);
  await waitFor(
    'every node ALIVE',
    async () => (await cluster.nodes()).filter((n) => n.status === 'ALIVE').length === 4,
    30_000,
  );
}

/** The first event of the job at or after `at` (ms) that `match`es, paging through them all. */
async function firstEventAfter(
  cluster: Cluster,
  id: string,
  at: number,
  match: (e: JobEvent) => boolean,
): Promise<JobEvent | undefined> {
  let after = 0;
  for (;;) {
    const url = `${cluster.am}/v1/jobs/${id}/events?after=${after}`;
    const page = (await call<{ events: JobEvent[] }>('GET', url)).body.events;
    if (page.length === 0) return undefined;
    const found = page.find((e) => Date.parse(e.at) >= at - 5 && match(e));
    if (found) return found;
    after = page.at(-1)!.seq;
  }
}

/** BENCH_FAILOVER_TRACE=1: the job's state changes after the kill, in seconds from it. */
async function trace(cluster: Cluster, id: string, at: number): Promise<void> {
  let after = 0;
  for (;;) {
    const url = `${cluster.am}/v1/jobs/${id}/events?after=${after}`;
    const page = (await call<{ events: JobEvent[] }>('GET', url)).body.events;
    if (page.length === 0) return;
    for (const e of page) {
      const t = (Date.parse(e.at) - at) / 1000;
      if (t >= -0.05 && e.type !== 'progress' && e.type !== 'checkpoint')
        say(
          `  +${t.toFixed(3)}s ${e.type} ${e.role ?? ''} ${e.from ?? ''}->${e.to ?? ''} ${JSON.stringify(e.detail)}`,
        );
      if (t >= -0.05 && e.type === 'progress')
        say(`  +${t.toFixed(3)}s progress ${JSON.stringify(e.detail)}`);
    }
    after = page.at(-1)!.seq;
  }
}

interface Timing {
  detectS: number | null;
  recoverS: number;
}

/**
 * One job; at a random step `disturb` runs (it returns the instant the clock starts and the role
 * whose loss the AM must record); timed until the step passes the pre-kill step; then cancelled.
 */
async function timedRun(
  cluster: Cluster,
  disturb: (jobId: string) => Promise<{ at: number; role: string | null }>,
): Promise<Timing> {
  const spec = {
    ...flightsJobSpec('flights', 1),
    failover: { backoffMs: 0, maxBackoffMs: 0, maxAttempts: 10 },
  };
  const submitted = await call<JobView>('POST', `${cluster.am}/v1/jobs`, spec);
  if (submitted.status !== 201) throw new Error(JSON.stringify(submitted.body));
  const id = submitted.body.id;
  const killStep = 20 + Math.floor(random() * 130);
  const before = await waitFor(
    `step ${killStep}`,
    async () => {
      const v = await cluster.view(id);
      if (['FAILED', 'CANCELLED', 'SUCCEEDED'].includes(v.state))
        throw new Error(`job ended: ${v.state} ${v.reason}`);
      return v.state === 'RUNNING' && v.progress.step >= killStep ? v : undefined;
    },
    RUN_BOUND_MS,
    20,
  );
  const { at, role } = await disturb(id);
  const lossSeen = (v: JobView) =>
    role === null ||
    v.state === 'RECOVERING' ||
    v.roles.some((r) => r.role === role && (r.state !== 'RUNNING' || r.attempt > 0));
  // The view's step lags the roles by up to their report interval (1 s): the pre-kill step is the
  // highest one seen until the AM records the loss; recovered once the step passes it.
  let pastStep = before.progress.step;
  let lossAt: number | undefined;
  await waitFor(
    'the step past the pre-kill step',
    async () => {
      const v = await cluster.view(id).catch(() => undefined);
      if (!v) return false;
      if (['FAILED', 'CANCELLED'].includes(v.state))
        throw new Error(`job ended: ${v.state} ${v.reason}`);
      if (v.state === 'SUCCEEDED') return true;
      if (lossAt === undefined) {
        pastStep = Math.max(pastStep, v.progress.step);
        if (lossSeen(v)) lossAt = Date.now();
        return false;
      }
      return v.state === 'RUNNING' && v.progress.step > pastStep;
    },
    RUN_BOUND_MS,
    20,
  );
  const recoverS = (Date.now() - at) / 1000;
  let detectS: number | null = null;
  if (role !== null) {
    const lost = await firstEventAfter(
      cluster,
      id,
      at,
      (e) => e.type === 'role-state' && e.role === role,
    );
    const atMs = lost ? Date.parse(lost.at) : lossAt;
    if (atMs !== undefined) detectS = Math.max(0, (atMs - at) / 1000);
  }
  if (TRACE) await trace(cluster, id, at);
  await call('POST', `${cluster.am}/v1/jobs/${id}/cancel`, {});
  await waitFor(
    'the job cancelled and its roles gone',
    async () => {
      const v = await cluster.view(id);
      const busy = (await cluster.nodes()).some((n) => n.runningRoles.length > 0);
      return ['CANCELLED', 'SUCCEEDED', 'FAILED'].includes(v.state) && !busy;
    },
    60_000,
    200,
  );
  return { detectS, recoverS };
}

async function rounds(
  name: string,
  run: () => Promise<Timing>,
): Promise<{ detect: number | null; recover: number | null }> {
  const detect: number[] = [];
  const recover: number[] = [];
  for (let i = 0; i < (CASES.includes(name) ? ROUNDS : 0); i++) {
    try {
      const t = await run();
      say({ case: name, round: i, detect_s: t.detectS, recover_s: t.recoverS });
      if (t.detectS !== null) detect.push(t.detectS);
      recover.push(t.recoverS);
    } catch (error) {
      say({ case: name, round: i, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { detect: median(detect), recover: median(recover) };
}

/** Two AMs on PostgreSQL with the lease: SIGKILL the active, time until the standby answers REST. */
async function amTakeover(nats: PrivateNatsServer): Promise<number | null> {
  const root = uniqueRoot('bench_failover_am');
  const started: ServiceProcess[] = [];
  const startAm = async (id: string, port: number) => {
    const url = `http://127.0.0.1:${port}`;
    const am = await ServiceProcess.start({
      app: 'am',
      env: {
        NATS_URL: nats.url,
        SUBJECT_ROOT: root,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        AM_ID: id,
        AM_ADVERTISED_URL: url,
        AM_LEASE_MS: String(LEASE_MS),
        DATABASE_URL: TEST_DATABASE_URL,
        DB_SCHEMA: root,
      },
    });
    started.push(am);
    return { id, port, url, process: am };
  };
  const lease = async (url: string) => {
    const res = await fetch(`${url}/health`).catch(() => undefined);
    return res ? ((await res.json()) as { checks: { lease?: LeaseView } }).checks.lease : undefined;
  };
  const times: number[] = [];
  try {
    let ams = [await startAm('am-a', await freePort()), await startAm('am-b', await freePort())];
    for (let i = 0; i < ROUNDS; i++) {
      const active = await waitFor(
        'one AM active, the other standby',
        async () => {
          const views = await Promise.all(ams.map((a) => lease(a.url)));
          const k = views.findIndex((v) => v?.state === 'ACTIVE');
          return k >= 0 && views[1 - k]?.state === 'STANDBY' ? k : undefined;
        },
        60_000,
        50,
      );
      const standby = ams[1 - active]!;
      const victim = ams[active]!;
      await sleep(500 + random() * 2_000);
      await victim.process.stop('SIGKILL');
      const killedAt = Date.now();
      await waitFor(
        'the standby to answer REST',
        async () => (await fetch(`${standby.url}/v1/nodes`)).status === 200,
        60_000,
        20,
      );
      const s = (Date.now() - killedAt) / 1000;
      say({ case: 'am-takeover', round: i, takeover_s: s, lease_ms: LEASE_MS });
      times.push(s);
      ams = [standby, await startAm(victim.id, victim.port)];
    }
  } catch (error) {
    say({ case: 'am-takeover', error: error instanceof Error ? error.message : String(error) });
  } finally {
    await Promise.all(started.map((p) => p.stop('SIGTERM', 5_000)));
    await dropPostgresSchema(TEST_DATABASE_URL, root).catch(() => undefined);
  }
  return median(times);
}

async function main(): Promise<void> {
  say(`bench:failover: ${ROUNDS} rounds per case, seed ${seed}`);
  const nats = await PrivateNatsServer.start();
  const cluster = new Cluster(nats);
  const deadline = setTimeout(() => {
    say('bench:failover: over 25 minutes, giving up');
    process.exit(1);
  }, 25 * 60_000);
  try {
    await setUp(cluster);
    const worker = await rounds('worker-role', () =>
      timedRun(cluster, async (id) => {
        const { pid } = await cluster.rolePid(id, 'worker-1');
        process.kill(pid, 'SIGKILL');
        return { at: Date.now(), role: 'worker-1' };
      }),
    );
    const node = await rounds('worker-node', () =>
      timedRun(cluster, async (id) => {
        const { nodeId } = await cluster.rolePid(id, 'worker-0');
        const service = cluster.services.get(nodeId)!;
        const at = Date.now();
        await service.stop('SIGKILL');
        void cluster.startNode(nodeId, 'worker', 1).catch(() => undefined);
        return { at, role: 'worker-0' };
      }),
    );
    const ps = await rounds('ps-role', () =>
      timedRun(cluster, async (id) => {
        const { pid } = await cluster.rolePid(id, 'ps-0');
        process.kill(pid, 'SIGKILL');
        return { at: Date.now(), role: 'ps-0' };
      }),
    );
    const natsRestart = await rounds('nats-restart', () =>
      timedRun(cluster, async () => {
        await nats.stop();
        await nats.resume();
        return { at: Date.now(), role: null };
      }),
    );
    const takeover = CASES.includes('am-takeover') ? await amTakeover(nats) : null;
    say({ worker_node_detect_s: node.detect, worker_node_recover_s: node.recover });
    say({
      worker_detect_s: worker.detect,
      worker_recover_s: worker.recover,
      ps_detect_s: ps.detect,
      ps_recover_s: ps.recover,
      am_takeover_s: takeover,
      nats_restart_recover_s: natsRestart.recover,
    });
  } finally {
    clearTimeout(deadline);
    await cluster.stop();
    await nats.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
