import { FencingToken, NodeRegistration, RunningRole } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock';
import { NodeRegistry, roleKey } from './node-registry';

const INTERVAL = 1000;

function setup() {
  const clock = new ManualClock();
  const registry = new NodeRegistry({ heartbeatIntervalMs: INTERVAL, lossAfterMissed: 3, clock });
  return { clock, registry };
}

function registration(nodeId: string, overrides: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    nodeId,
    incarnation: 'inc-1',
    kind: 'worker',
    slots: 2,
    version: '0.1.0',
    host: 'h',
    httpPort: 4000,
    startedAt: new Date(0).toISOString(),
    runningRoles: [],
    ...overrides,
  };
}

function token(role: string, attempt = 0): FencingToken {
  return { jobId: 'job', generation: 0, role, attempt };
}

function running(role: string, attempt = 0): RunningRole {
  return {
    token: token(role, attempt),
    entry: 'worker',
    pid: 100,
    state: 'running',
    startedAt: new Date(0).toISOString(),
  };
}

function beat(
  registry: NodeRegistry,
  nodeId: string,
  seq: number,
  roles: RunningRole[] = [],
  incarnation = 'inc-1',
) {
  return registry.heartbeat({
    nodeId,
    incarnation,
    seq,
    sentAt: new Date(0).toISOString(),
    runningRoles: roles,
  });
}

describe('NodeRegistry liveness', () => {
  it('registers a new node ALIVE and acknowledges with the liveness rules', () => {
    const { registry } = setup();
    const result = registry.register(registration('n1'));
    expect(result.ack).toEqual({
      nodeId: 'n1',
      known: false,
      heartbeatIntervalMs: 1000,
      lossAfterMissed: 3,
    });
    expect(result.events).toEqual([
      expect.objectContaining({ type: 'REGISTERED', from: null, to: 'ALIVE' }),
    ]);
    expect(registry.get('n1')?.status).toBe('ALIVE');
  });

  it('declares LOST exactly after 3 missed intervals, not a millisecond before', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    clock.advance(500);
    beat(registry, 'n1', 0);
    const lastBeat = clock.now();
    expect(registry.sweep(lastBeat + 3 * INTERVAL)).toEqual([]);
    expect(registry.get('n1')?.status).toBe('ALIVE');
    const events = registry.sweep(lastBeat + 3 * INTERVAL + 1);
    expect(events).toEqual([
      expect.objectContaining({ nodeId: 'n1', type: 'LOST', from: 'ALIVE', to: 'LOST' }),
    ]);
    expect(events[0]?.reason).toMatch(/no heartbeat for 3001 ms/);
    expect(registry.sweep(lastBeat + 10 * INTERVAL)).toEqual([]);
  });

  it('with a sweep every 250 ms, a node that dies is LOST within 3 x interval + 1 s of its death', () => {
    for (const deathOffset of [0, 1, 250, 999]) {
      const { clock, registry } = setup();
      registry.register(registration('n1'));
      for (let seq = 0; seq < 5; seq += 1) {
        clock.advance(INTERVAL);
        beat(registry, 'n1', seq);
      }
      clock.advance(deathOffset);
      const diedAt = clock.now();
      let lostAt: number | undefined;
      while (lostAt === undefined && clock.now() < diedAt + 10 * INTERVAL) {
        clock.advance(250);
        if (registry.sweep().length > 0) lostAt = clock.now();
      }
      expect(lostAt).toBeDefined();
      expect(lostAt! - diedAt).toBeLessThanOrEqual(3 * INTERVAL + 1000);
      expect(lostAt! - diedAt).toBeGreaterThan(3 * INTERVAL - INTERVAL);
    }
  });

  it('excuses the silence the AM could not hear (NATS down): a full timeout plus the grace from now', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    clock.advance(2 * INTERVAL);
    registry.excuseSilence(500);
    const excusedAt = clock.now();
    expect(registry.sweep(excusedAt + 500 + 3 * INTERVAL)).toEqual([]);
    expect(registry.sweep(excusedAt + 500 + 3 * INTERVAL + 1)).toEqual([
      expect.objectContaining({ nodeId: 'n1', type: 'LOST' }),
    ]);
  });

  it('tolerates late heartbeats that stay inside the timeout', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    for (let seq = 0; seq < 20; seq += 1) {
      clock.advance(2900);
      expect(registry.sweep()).toEqual([]);
      beat(registry, 'n1', seq);
    }
    expect(registry.get('n1')?.status).toBe('ALIVE');
  });

  it('turns a LOST node ALIVE again when its heartbeats resume', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    clock.advance(3001);
    expect(registry.sweep()).toHaveLength(1);
    clock.advance(5000);
    const { reply, events } = beat(registry, 'n1', 7);
    expect(reply).toEqual({ known: true });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'ALIVE',
        from: 'LOST',
        to: 'ALIVE',
        reason: 'heartbeats resumed',
      }),
    ]);
    expect(registry.get('n1')?.lastHeartbeatAt).toBe(clock.now());
    clock.advance(3000);
    expect(registry.sweep()).toEqual([]);
  });

  it('answers known: false to an unknown node or an old incarnation', () => {
    const { registry } = setup();
    expect(beat(registry, 'ghost', 0).reply).toEqual({ known: false });
    registry.register(registration('n1', { incarnation: 'inc-2' }));
    expect(beat(registry, 'n1', 0, [], 'inc-1').reply).toEqual({ known: false });
    expect(beat(registry, 'n1', 0, [], 'inc-2').reply).toEqual({ known: true });
  });

  it('records a re-registration of the same incarnation and a restart with a new one', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    beat(registry, 'n1', 0, [running('worker-0'), running('worker-1')]);
    clock.advance(4000);
    registry.sweep();
    const again = registry.register(
      registration('n1', { runningRoles: [running('worker-0'), running('worker-1')] }),
    );
    expect(again.ack.known).toBe(true);
    expect(again.events).toEqual([
      expect.objectContaining({ type: 'REREGISTERED', from: 'LOST', to: 'ALIVE' }),
    ]);
    expect(again.lostRoles).toEqual([]);
    const restarted = registry.register(
      registration('n1', { incarnation: 'inc-9', runningRoles: [] }),
    );
    expect(restarted.events).toEqual([
      expect.objectContaining({ type: 'RESTARTED', from: 'ALIVE', to: 'ALIVE' }),
    ]);
    expect(restarted.lostRoles.map((role) => role.token.role)).toEqual(['worker-0', 'worker-1']);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 0, free: 2 });
  });

  it('ignores the role list of a heartbeat older than the last one', () => {
    const { registry } = setup();
    registry.register(registration('n1'));
    beat(registry, 'n1', 5, [running('worker-0')]);
    beat(registry, 'n1', 4, []);
    expect(registry.get('n1')?.runningRoles).toHaveLength(1);
  });

  it('gives restored nodes a full timeout from the restore, so live nodes are not declared LOST', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    beat(registry, 'n1', 3);
    const saved = registry.list();
    clock.advance(60_000);
    const restarted = new NodeRegistry({
      heartbeatIntervalMs: INTERVAL,
      lossAfterMissed: 3,
      clock,
    });
    restarted.restore(saved);
    expect(restarted.sweep()).toEqual([]);
    clock.advance(2000);
    expect(
      restarted.heartbeat({
        nodeId: 'n1',
        incarnation: 'inc-1',
        seq: 4,
        sentAt: '',
        runningRoles: [],
      }).reply,
    ).toEqual({
      known: true,
    });
    clock.advance(3000);
    expect(restarted.sweep()).toEqual([]);
    clock.advance(1);
    expect(restarted.sweep()).toEqual([expect.objectContaining({ type: 'LOST' })]);
  });

  it('adds a start-up grace to restored nodes', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    const restarted = new NodeRegistry({
      heartbeatIntervalMs: INTERVAL,
      lossAfterMissed: 3,
      clock,
    });
    restarted.restore(registry.list(), 5000);
    expect(restarted.lossDeadline('n1')).toBe(clock.now() + 5000 + 3 * INTERVAL);
    expect(restarted.sweep(clock.now() + 8000)).toEqual([]);
    expect(restarted.sweep(clock.now() + 8001)).toEqual([
      expect.objectContaining({ type: 'LOST' }),
    ]);
  });
});

describe('NodeRegistry slots', () => {
  it('counts reservations and reported roles once each and refuses a full node', () => {
    const { registry } = setup();
    registry.register(registration('n1'));
    expect(registry.reserve('n1', token('worker-0'))).toBe(true);
    expect(registry.reserve('n1', token('worker-0'))).toBe(true);
    beat(registry, 'n1', 0, [running('worker-0')]);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 1, free: 1 });
    expect(registry.reserve('n1', token('worker-1'))).toBe(true);
    expect(registry.reserve('n1', token('worker-2'))).toBe(false);
    expect(registry.reserve('n1', token('worker-0', 1))).toBe(false);
    registry.release('n1', token('worker-0'));
    expect(registry.slots('n1')).toEqual({ total: 2, used: 1, free: 1 });
    expect(registry.reserve('unknown', token('worker-0'))).toBe(false);
    expect(roleKey(token('worker-0', 1))).not.toBe(roleKey(token('worker-0', 0)));
  });

  it('frees a reservation the node never reports running after the TTL, and one it ran when it ends', () => {
    const { clock, registry } = setup();
    registry.register(registration('n1'));
    expect(registry.reserve('n1', token('worker-0'))).toBe(true);
    expect(registry.reserve('n1', token('worker-1'))).toBe(true);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 2, free: 0 });
    // worker-1 starts: from now on the heartbeats count it, not the reservation.
    beat(registry, 'n1', 0, [running('worker-1')]);
    clock.advance(59_999);
    beat(registry, 'n1', 1, [running('worker-1')]);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 2, free: 0 });
    // worker-0's release was lost: its reservation lapses at 60 s.
    clock.advance(1);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 1, free: 1 });
    // worker-1 ended without an exit report reaching the AM: the next heartbeat frees it.
    beat(registry, 'n1', 2, []);
    expect(registry.slots('n1')).toEqual({ total: 2, used: 0, free: 2 });
    expect(registry.get('n1')?.reservations).toEqual([]);
  });

  it('offers only ALIVE nodes of the asked kind with free slots, most free first', () => {
    const { clock, registry } = setup();
    registry.register(registration('a', { slots: 1 }));
    registry.register(registration('b', { slots: 3 }));
    registry.register(registration('c', { slots: 2 }));
    registry.register(registration('p', { kind: 'parameter-server', slots: 4 }));
    registry.reserve('a', token('worker-0'));
    expect(registry.nodesWithFreeSlots('worker').map((n) => n.registration.nodeId)).toEqual([
      'b',
      'c',
    ]);
    expect(
      registry.nodesWithFreeSlots('parameter-server').map((n) => n.registration.nodeId),
    ).toEqual(['p']);
    clock.advance(2000);
    beat(registry, 'c', 0);
    clock.advance(1500);
    registry.sweep();
    expect(registry.nodesWithFreeSlots('worker').map((n) => n.registration.nodeId)).toEqual(['c']);
  });

  it('refuses nonsensical liveness settings', () => {
    expect(() => new NodeRegistry({ heartbeatIntervalMs: 0, lossAfterMissed: 3 })).toThrow(
      /heartbeatIntervalMs/,
    );
    expect(
      () => new NodeRegistry({ heartbeatIntervalMs: Number.NaN, lossAfterMissed: 3 }),
    ).toThrow();
    expect(() => new NodeRegistry({ heartbeatIntervalMs: 1000, lossAfterMissed: 0 })).toThrow(
      /lossAfterMissed/,
    );
  });
});
