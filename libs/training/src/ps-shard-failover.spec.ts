import { describe, expect, it } from 'vitest';
import { ErrorCode, FencingToken } from '@dln/contracts';
import { PsShard } from './ps-shard';

const psToken: FencingToken = { jobId: 'job1', generation: 2, role: 'ps-0', attempt: 0 };
const worker = (index: number, attempt = 0, generation = 2): FencingToken => ({
  jobId: 'job1',
  generation,
  role: `worker-${index}`,
  attempt,
});
const g = (...values: number[]): Float32Array => new Float32Array(values);

function shard(mode: 'sync' | 'async'): PsShard {
  return new PsShard({
    token: psToken,
    shard: 0,
    workers: 2,
    mode,
    optimizer: { kind: 'sgd', learningRate: 1 },
    params: g(0, 0),
  });
}

describe('PsShard failover (async)', () => {
  it('applies a re-sent push once and reports each worker position', async () => {
    const ps = shard('async');
    await ps.push(worker(0), 0, 1, g(1, 1));
    await ps.push(worker(0), 1, 1, g(1, 1));
    // The reply to step 1 was lost (NATS restart): the worker sends it again.
    const again = await ps.push(worker(0), 1, 1, g(1, 1));
    expect(again.updateCount).toBe(2);
    expect(Array.from(await ps.pull(worker(0), 0))).toEqual([-2, -2]);
    expect(ps.positionsFor(worker(1))).toEqual([2, 0]);
    // A replacement asks where its predecessor stood, and goes on from there.
    expect(ps.positionsFor(worker(0, 1))).toEqual([2, 0]);
    await ps.push(worker(0, 1), 2, 1, g(1, 1));
    expect(ps.updateCount).toBe(3);
  });

  it('refuses the superseded attempt with FENCED once a notice or its replacement arrived', async () => {
    const ps = shard('async');
    await ps.push(worker(1), 0, 1, g(1, 1));
    expect(ps.supersede(worker(1, 1))).toBe(true);
    expect(ps.supersede(worker(1, 1))).toBe(false);
    await expect(ps.push(worker(1), 1, 1, g(1, 1))).rejects.toMatchObject({
      code: ErrorCode.Fenced,
    });
    expect(() => ps.positionsFor(worker(1, 0))).toThrow(/superseded by attempt 1/);
    // Another generation's notice means nothing to this shard.
    expect(ps.supersede(worker(0, 5, 3))).toBe(false);
    expect(ps.updateCount).toBe(1);
  });

  it('learns from a newer attempt of its own role that it is superseded', () => {
    const ps = shard('async');
    expect(() => ps.positionsFor({ ...psToken, attempt: 1 })).toThrow(
      expect.objectContaining({ code: ErrorCode.Fenced, receiverSuperseded: true }),
    );
    expect(() => ps.positionsFor({ ...psToken, attempt: 0 })).not.toThrow();
  });

  it('lets any role of its generation ask the positions, and refuses an older generation', () => {
    const ps = shard('async');
    expect(ps.positionsFor({ ...psToken, role: 'ps-1' })).toEqual([0, 0]);
    expect(() => ps.positionsFor(worker(0, 0, 1))).toThrow(/stale/);
  });
});

describe('PsShard failover (sync)', () => {
  it('drops a superseded worker’s pending gradient (FENCED) and completes the step with the replacement’s', async () => {
    const ps = shard('sync');
    await Promise.all([ps.push(worker(1), 0, 1, g(10, 10)), ps.push(worker(0), 0, 1, g(1, 1))]);
    expect(ps.step).toBe(1);

    // The old worker 1 pushed step 1, then was replaced before worker 0 pushed.
    const stale = ps.push(worker(1), 1, 1, g(100, 100));
    expect(ps.supersede(worker(1, 1))).toBe(true);
    await expect(stale).rejects.toMatchObject({ code: ErrorCode.Fenced });
    const waiting = ps.push(worker(0), 1, 1, g(1, 1));
    // The replacement resumes where the shard stands: step 1 is still being collected.
    expect(ps.positionsFor(worker(1, 1))).toEqual([1, 1]);
    await ps.push(worker(1, 1), 1, 1, g(3, 3));
    await waiting;
    expect(ps.step).toBe(2);
    // Step 0: (10 + 1) / 2; step 1: (1 + 3) / 2, the stale 100s never counted.
    expect(Array.from(await ps.pull(worker(0), 2))).toEqual([-7.5, -7.5]);
  });

  it('a re-sent push of the step being collected joins it instead of counting twice', async () => {
    const ps = shard('sync');
    const first = ps.push(worker(0), 0, 1, g(2, 2));
    const resent = ps.push(worker(0), 0, 1, g(2, 2));
    await ps.push(worker(1), 0, 1, g(4, 4));
    expect((await first).step).toBe(1);
    expect((await resent).step).toBe(1);
    expect(Array.from(await ps.pull(worker(0), 1))).toEqual([-3, -3]);
  });
});
