import { LeaseRecord, LeaseState } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock';
import { LeaseElection, LeaseEntry, LeaseStore } from './lease-election';

const LEASE = 3000;
const STEP = 10;

/** The KV key's semantics (compare-and-set on the revision), with faults one AM at a time. */
class MemoryKey {
  entry: LeaseEntry | undefined;
  private sequence = 0;

  write(record: LeaseRecord): number {
    this.sequence += 1;
    this.entry = { record, revision: this.sequence };
    return this.sequence;
  }

  /** What the bucket's max age does to a key nobody renews. */
  expire(): void {
    this.entry = undefined;
  }

  view(
    fault: { mode: 'ok' | 'down' | 'lose-replies' | 'hang' },
    hung: (() => void)[] = [],
  ): LeaseStore {
    const guard = <T>(run: () => T, write = true): Promise<T> => {
      if (fault.mode === 'down') return Promise.reject(new Error('no answer'));
      if (fault.mode === 'hang') return new Promise((resolve) => hung.push(() => resolve(run())));
      const result = run();
      const lost = write && fault.mode === 'lose-replies';
      return lost ? Promise.reject(new Error('reply lost')) : Promise.resolve(result);
    };
    return {
      read: () => guard(() => this.entry, false),
      create: (record) => guard(() => (this.entry ? undefined : this.write(record))),
      update: (record, revision) =>
        guard(() => (this.entry?.revision === revision ? this.write(record) : undefined)),
      remove: (revision) =>
        guard(() => {
          if (this.entry?.revision !== revision) return false;
          this.entry = undefined;
          return true;
        }),
    };
  }
}

interface Am {
  election: LeaseElection;
  fault: { mode: 'ok' | 'down' | 'lose-replies' | 'hang' };
  alive: boolean;
  hung: (() => void)[];
  busy?: boolean;
}

function setup(count = 2, leaseMs = LEASE) {
  const clock = new ManualClock();
  const key = new MemoryKey();
  const ams: Am[] = Array.from({ length: count }, (_, i) => {
    const fault = { mode: 'ok' as Am['fault']['mode'] };
    const hung: (() => void)[] = [];
    const election = new LeaseElection({
      id: `am-${i}`,
      url: `http://am-${i}:3000`,
      leaseMs,
      store: key.view(fault, hung),
      clock,
    });
    return { election, fault, alive: true, hung };
  });
  const active = () => ams.filter((am) => am.alive && am.election.state === LeaseState.Active);
  /** Moves time in small steps, ticking every live AM when due; checks there is never two actives. */
  const run = async (ms: number, until?: () => boolean): Promise<number> => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      for (const am of ams) {
        if (!am.alive) continue;
        am.election.checkDeadline();
        if (am.busy || clock.now() < am.election.nextTickAt()) continue;
        // One tick at a time, as LeaseLoop does; a hung one must not stop the clock.
        am.busy = true;
        const done = am.election.tick().finally(() => (am.busy = false));
        if (am.fault.mode !== 'hang') await done;
      }
      expect(active().length).toBeLessThanOrEqual(1);
      if (until?.()) return clock.now();
      clock.advance(STEP);
    }
    return clock.now();
  };
  return { clock, key, ams, active, run };
}

describe('LeaseElection', () => {
  it('lets the first AM take a free lease; the other stays STANDBY and names it', async () => {
    const { ams, run, key } = setup();
    await run(500);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
    expect(ams[1]!.election.view()).toEqual({
      state: LeaseState.Standby,
      self: 'am-1',
      holder: { id: 'am-0', url: 'http://am-0:3000' },
      leaseMs: LEASE,
    });
    expect(key.entry?.record).toMatchObject({ holderId: 'am-0', leaseMs: LEASE });
  });

  it('renews every lease / 3 and is never taken over while it renews', async () => {
    const { ams, run, key } = setup();
    await run(10);
    const first = key.entry!.revision;
    await run(10 * LEASE);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
    expect(ams[1]!.election.state).toBe(LeaseState.Standby);
    expect(key.entry!.revision - first).toBeGreaterThanOrEqual(29);
    expect(key.entry!.revision - first).toBeLessThanOrEqual(31);
  });

  it('after the holder dies, a standby takes over within lease + poll of its last renewal', async () => {
    const { ams, run, clock, key } = setup();
    await run(2000);
    const renewedAt = clock.now();
    const revision = key.entry!.revision;
    await run(LEASE / 3, () => key.entry!.revision !== revision);
    const lastRenewal = clock.now();
    expect(lastRenewal - renewedAt).toBeLessThanOrEqual(LEASE / 3 + STEP);
    ams[0]!.alive = false;
    const takenAt = await run(3 * LEASE, () => ams[1]!.election.state === LeaseState.Active);
    expect(takenAt - lastRenewal).toBeGreaterThanOrEqual(LEASE);
    expect(takenAt - lastRenewal).toBeLessThanOrEqual(LEASE + ams[1]!.election.pollMs + 2 * STEP);
    expect(key.entry!.record.holderId).toBe('am-1');
  });

  it('a cut-off holder stops acting before the standby may take over', async () => {
    const { ams, run, clock } = setup();
    const changes: [string, number][] = [];
    ams[0]!.election.onChange((state) => changes.push([state, clock.now()]));
    ams[1]!.election.onChange((state) => changes.push([state, clock.now()]));
    await run(1000);
    ams[0]!.fault.mode = 'down';
    await run(3 * LEASE, () => ams[1]!.election.state === LeaseState.Active);
    expect(changes.map(([state]) => state)).toEqual([
      LeaseState.Active,
      LeaseState.Standby,
      LeaseState.Active,
    ]);
    const [, , [, takenAt]] = changes as [[string, number], [string, number], [string, number]];
    const steppedDownAt = changes[1]![1];
    expect(takenAt - steppedDownAt).toBeGreaterThanOrEqual(ams[0]!.election.guardMs);
  });

  it('steps down at its deadline while a renewal hangs, and ignores the late reply', async () => {
    const { ams, run, key } = setup(1);
    await run(100);
    ams[0]!.fault.mode = 'hang';
    await run(LEASE, () => ams[0]!.election.state === LeaseState.Standby);
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
    const before = key.entry!.revision;
    for (const release of ams[0]!.hung.splice(0)) release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(key.entry!.revision).toBe(before + 1);
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
  });

  it('reports STANDBY past its deadline even when nothing ticks or checks it (a stopped loop)', async () => {
    const { ams, run, clock } = setup(1);
    const changes: string[] = [];
    ams[0]!.election.onChange((state, reason) => changes.push(`${state}: ${reason}`));
    await run(100);
    const deadline = ams[0]!.election.deadline()!;
    clock.advance(deadline - clock.now() - 1);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
    clock.advance(1);
    expect(ams[0]!.election.view().state).toBe(LeaseState.Standby);
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
    expect(changes).toEqual([
      'ACTIVE: lease acquired',
      'STANDBY: lease not renewed before its deadline',
    ]);
  });

  it('steps down at once when another AM has written the lease', async () => {
    const { ams, run, key } = setup(1);
    await run(100);
    key.write({ ...key.entry!.record, holderId: 'intruder', term: 'other' });
    await run(LEASE / 3 + 2 * STEP);
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
    expect(ams[0]!.election.view().holder).toEqual({ id: 'intruder', url: 'http://am-0:3000' });
  });

  it('keeps the lease when a renewal landed but its reply was lost', async () => {
    const { ams, run, key } = setup(2);
    await run(100);
    ams[0]!.fault.mode = 'lose-replies';
    const revision = key.entry!.revision;
    await run(LEASE / 2, () => key.entry!.revision !== revision);
    ams[0]!.fault.mode = 'ok';
    await run(3 * LEASE);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
    expect(ams[1]!.election.state).toBe(LeaseState.Standby);
  });

  it('takes a takeover whose reply was lost when it sees its own write in time', async () => {
    const { ams, run, key } = setup(1);
    key.write({
      holderId: 'gone',
      leaseMs: LEASE,
      term: 't0',
      acquiredAt: new Date(0).toISOString(),
    });
    ams[0]!.fault.mode = 'lose-replies';
    await run(LEASE + 200, () => key.entry!.record.holderId === 'am-0');
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
    ams[0]!.fault.mode = 'ok';
    await run(LEASE / 2, () => ams[0]!.election.state === LeaseState.Active);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
  });

  it('takes a key removed by the bucket max age at once, even right after its own start', async () => {
    const { ams, run, key } = setup(1);
    key.write({
      holderId: 'gone',
      leaseMs: LEASE,
      term: 't0',
      acquiredAt: new Date(0).toISOString(),
    });
    await run(LEASE / 2);
    expect(ams[0]!.election.state).toBe(LeaseState.Standby);
    key.expire();
    await run(ams[0]!.election.pollMs + STEP);
    expect(ams[0]!.election.state).toBe(LeaseState.Active);
  });

  it('times a holder by the lease it wrote, not by its own', async () => {
    const { ams, run, key, clock } = setup(1, 1000);
    key.write({
      holderId: 'slow',
      leaseMs: 4000,
      term: 't0',
      acquiredAt: new Date(0).toISOString(),
    });
    const start = clock.now();
    const takenAt = await run(10_000, () => ams[0]!.election.state === LeaseState.Active);
    expect(takenAt - start).toBeGreaterThanOrEqual(4000);
    expect(takenAt - start).toBeLessThanOrEqual(4000 + 100 + 2 * STEP);
  });

  it('a released lease is taken at the next read, not after the lease', async () => {
    const { ams, run, clock } = setup();
    await run(1000);
    ams[0]!.alive = false;
    const states: string[] = [];
    ams[0]!.election.onChange((state, reason) => states.push(`${state} ${reason}`));
    expect(await ams[0]!.election.release()).toBe(true);
    expect(states).toEqual(['STANDBY released']);
    const releasedAt = clock.now();
    const takenAt = await run(LEASE, () => ams[1]!.election.state === LeaseState.Active);
    expect(takenAt - releasedAt).toBeLessThanOrEqual(ams[1]!.election.pollMs + STEP);
    expect(await ams[0]!.election.release()).toBe(false);
  });

  it('refuses settings that could let two AMs act', () => {
    const store = new MemoryKey().view({ mode: 'ok' });
    const clock = new ManualClock();
    expect(() => new LeaseElection({ id: 'a', leaseMs: 50, store, clock })).toThrow(/leaseMs/);
    expect(
      () => new LeaseElection({ id: 'a', leaseMs: 3000, guardMs: 1000, store, clock }),
    ).toThrow(/guardMs/);
    expect(() => new LeaseElection({ id: 'a', leaseMs: Number.NaN, store, clock })).toThrow(
      /leaseMs/,
    );
  });
});
