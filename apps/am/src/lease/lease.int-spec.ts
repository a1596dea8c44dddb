import { LeaseElection, LeaseLoop, monotonicClock } from '@dln/cluster';
import { AM_LEASE_KEY, LeaseState, Subjects } from '@dln/contracts';
import {
  deleteStreamsOfRoot,
  PrivateNatsServer,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, KvLeaseStore } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';

const LEASE = 1500;
const TIMER_SLACK_MS = 400;

interface Contender {
  election: LeaseElection;
  loop: LeaseLoop;
  changes: { state: LeaseState; at: number }[];
}

async function contender(
  nc: NatsConnection,
  bucket: string,
  id: string,
  leaseMs = LEASE,
): Promise<Contender> {
  const store = await KvLeaseStore.open(nc, {
    bucket,
    key: AM_LEASE_KEY,
    leaseMs,
    requestTimeoutMs: leaseMs / 3,
  });
  const election = new LeaseElection({
    id,
    url: `http://${id}.test:3000`,
    leaseMs,
    store,
    clock: monotonicClock,
  });
  const changes: Contender['changes'] = [];
  election.onChange((state) => changes.push({ state, at: monotonicClock.now() }));
  const loop = new LeaseLoop(election, monotonicClock);
  loop.start();
  return { election, loop, changes };
}

/** Samples both states every 5 ms while `body` runs; returns how often both were ACTIVE. */
async function sampleOverlap(contenders: Contender[], body: () => Promise<void>): Promise<number> {
  let overlaps = 0;
  const timer = setInterval(() => {
    if (contenders.filter((c) => c.election.state === LeaseState.Active).length > 1) overlaps += 1;
  }, 5);
  try {
    await body();
  } finally {
    clearInterval(timer);
  }
  return overlaps;
}

describe('the AM lease on NATS KV (shared server)', () => {
  const root = uniqueRoot('kv_lease');
  const bucket = new Subjects(root).bucket('lease');
  let nc: NatsConnection;
  const started: Contender[] = [];

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'kv-lease-int' });
  });

  afterAll(async () => {
    await Promise.all(started.map((c) => c.loop.stop()));
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  });

  it('elects one; when it stops renewing, the other takes over after the lease, never both', async () => {
    const a = await contender(nc, bucket, 'am-a');
    started.push(a);
    await waitFor('am-a active', () => a.election.state === LeaseState.Active, 5_000, 10);
    const b = await contender(nc, bucket, 'am-b');
    started.push(b);
    await waitFor('am-b to see am-a', () => b.election.view().holder?.id === 'am-a', 5_000, 10);
    expect(b.election.view()).toMatchObject({
      state: 'STANDBY',
      holder: { id: 'am-a', url: 'http://am-a.test:3000' },
    });
    let killedAt = 0;
    const overlaps = await sampleOverlap([a, b], async () => {
      await new Promise((resolve) => setTimeout(resolve, 2 * LEASE));
      expect(b.election.state).toBe(LeaseState.Standby);
      await a.loop.stop(); // a crash, as far as the lease can tell: no release
      killedAt = monotonicClock.now();
      await waitFor('am-b active', () => b.election.state === LeaseState.Active, 4 * LEASE, 5);
      // Both states, sampled a while after the takeover: the stopped holder's must not say ACTIVE.
      await new Promise((resolve) => setTimeout(resolve, LEASE / 3));
    });
    const takeover = b.changes.at(-1)!.at - killedAt;
    expect(overlaps).toBe(0);
    expect(takeover).toBeGreaterThanOrEqual(LEASE - LEASE / 3 - 50);
    expect(takeover).toBeLessThanOrEqual(LEASE + b.election.pollMs + 500);
    const entry = await (
      await KvLeaseStore.open(nc, {
        bucket,
        key: AM_LEASE_KEY,
        leaseMs: LEASE,
        requestTimeoutMs: 500,
      })
    ).read();
    expect(entry?.record).toMatchObject({ holderId: 'am-b', leaseMs: LEASE });
  });

  it('hands a released lease over at the next read', async () => {
    const releaseBucket = new Subjects(`${root}_rel`).bucket('lease');
    const a = await contender(nc, releaseBucket, 'am-a');
    started.push(a);
    await waitFor('am-a active', () => a.election.state === LeaseState.Active, 5_000, 10);
    const b = await contender(nc, releaseBucket, 'am-b');
    started.push(b);
    await waitFor('am-b to see am-a', () => b.election.view().holder?.id === 'am-a', 5_000, 10);
    await a.loop.stop();
    const releasedAt = monotonicClock.now();
    expect(await a.election.release()).toBe(true);
    await waitFor('am-b active', () => b.election.state === LeaseState.Active, LEASE, 5);
    expect(b.changes.at(-1)!.at - releasedAt).toBeLessThan(b.election.pollMs + 300);
    await b.loop.stop();
  });

  it('lets the bucket max age remove a key nobody renews', async () => {
    const b = started[1]!;
    await b.loop.stop();
    const store = await KvLeaseStore.open(nc, {
      bucket,
      key: AM_LEASE_KEY,
      leaseMs: LEASE,
      requestTimeoutMs: 500,
    });
    await waitFor(
      'the key to expire',
      async () => (await store.read()) === undefined,
      3 * LEASE,
      50,
    );
    expect(
      await store.create({
        holderId: 'x',
        leaseMs: LEASE,
        term: 't',
        acquiredAt: new Date().toISOString(),
      }),
    ).toBeGreaterThan(0);
    expect(
      await store.create({
        holderId: 'y',
        leaseMs: LEASE,
        term: 'u',
        acquiredAt: new Date().toISOString(),
      }),
    ).toBeUndefined();
  });

  it('refuses a lease longer than the bucket max age', async () => {
    await expect(
      KvLeaseStore.open(nc, {
        bucket,
        key: AM_LEASE_KEY,
        leaseMs: 2 * LEASE,
        requestTimeoutMs: 500,
      }),
    ).rejects.toThrow(/max age of 1500 ms, below the lease of 3000 ms/);
  });
});

describe('the AM lease when NATS goes away (private server)', () => {
  let server: PrivateNatsServer;
  let nc: NatsConnection;
  let holder: Contender | undefined;

  beforeAll(async () => {
    server = await PrivateNatsServer.start();
    nc = await connectNats({ servers: server.url, name: 'kv-lease-int-private' });
  });

  afterAll(async () => {
    await holder?.loop.stop();
    await nc?.close();
    await server?.dispose();
  });

  it('the holder stops acting before its lease could have expired, and takes it again after', async () => {
    const bucket = new Subjects(uniqueRoot('kv_lease_down')).bucket('lease');
    holder = await contender(nc, bucket, 'am-solo');
    const c = holder;
    await waitFor('active', () => c.election.state === LeaseState.Active, 5_000, 10);
    await new Promise((resolve) => setTimeout(resolve, LEASE));
    const stoppedAt = monotonicClock.now();
    await server.stop();
    // No renewal can succeed any more: this is the deadline the holder steps down at.
    const deadline = c.election.deadline()!;
    expect(deadline).toBeLessThanOrEqual(stoppedAt + LEASE - c.election.guardMs);
    await waitFor('standby', () => c.election.state === LeaseState.Standby, 2 * LEASE, 5);
    // Its timer fires at the deadline; a loaded 2-core machine may run it late, hence the slack.
    expect(c.changes.at(-1)!.at).toBeLessThanOrEqual(deadline + TIMER_SLACK_MS);
    await server.resume();
    await waitFor('active again', () => c.election.state === LeaseState.Active, 30_000, 20);
    expect(c.changes.map((change) => change.state)).toEqual(['ACTIVE', 'STANDBY', 'ACTIVE']);
  });
});
