import { describe, expect, it } from 'vitest';
import { ErrorCode, FencingToken } from '@dln/contracts';
import { decodeShardState, encodeShardState, ShardState } from './shard-checkpoint';
import { PsShard } from './ps-shard';

const psToken: FencingToken = { jobId: 'job1', generation: 2, role: 'ps-0', attempt: 0 };
const worker = (index: number, attempt = 0, generation = 2): FencingToken => ({
  jobId: 'job1',
  generation,
  role: `worker-${index}`,
  attempt,
});

function shard(
  mode: 'sync' | 'async',
  extra: Partial<ConstructorParameters<typeof PsShard>[0]> = {},
): PsShard {
  return new PsShard({
    token: psToken,
    shard: 0,
    workers: 2,
    mode,
    optimizer: { kind: 'sgd', learningRate: 1 },
    params: new Float32Array([0, 0, 0]),
    ...extra,
  });
}

describe('PsShard (sync)', () => {
  it('combines the step gradients weighted by example counts, once all workers pushed', async () => {
    const ps = shard('sync');
    let settled = false;
    const first = ps
      .push(worker(0), 0, 3, new Float32Array([1, 2, 3]))
      .then((ack) => ((settled = true), ack));
    await Promise.resolve();
    expect(settled).toBe(false);
    const second = await ps.push(worker(1), 0, 1, new Float32Array([5, 6, 7]));
    const ack = await first;
    // (3 * g0 + 1 * g1) / 4, SGD with rate 1.
    expect(Array.from(await ps.pull(worker(0), 1))).toEqual([-2, -3, -4]);
    expect(ack).toMatchObject({ step: 1, updateCount: 1 });
    expect(second.step).toBe(1);
  });

  it('takes count 0 from a worker out of data, and applies nothing when nobody had data', async () => {
    const ps = shard('sync');
    await Promise.all([
      ps.push(worker(0), 0, 2, new Float32Array([1, 1, 1])),
      ps.push(worker(1), 0, 0, null),
    ]);
    expect(Array.from(await ps.pull(worker(1), 1))).toEqual([-1, -1, -1]);
    await Promise.all([ps.push(worker(0), 1, 0, null), ps.push(worker(1), 1, 0, null)]);
    expect(ps.step).toBe(2);
    expect(ps.updateCount).toBe(1);
  });

  it('keeps its own copy of a pending gradient, step after step (the pushed array may be reused)', async () => {
    const ps = shard('sync');
    const reused = new Float32Array([1, 2, 3]);
    for (let step = 0; step < 3; step += 1) {
      const first = ps.push(worker(0), step, 1, reused);
      reused.fill(100); // the sender's buffer (a NATS message) changes before the step completes
      await ps.push(worker(1), step, 1, new Float32Array([3, 2, 1]));
      await first;
      reused.set([1, 2, 3]);
    }
    // Each step: mean of [1, 2, 3] and [3, 2, 1] = [2, 2, 2], SGD with rate 1, three times.
    expect(Array.from(await ps.pull(worker(0), 3))).toEqual([-6, -6, -6]);
  });

  it('answers a retried push of an applied step without applying it again', async () => {
    const ps = shard('sync');
    await Promise.all([
      ps.push(worker(0), 0, 1, new Float32Array([1, 0, 0])),
      ps.push(worker(1), 0, 1, new Float32Array([1, 0, 0])),
    ]);
    const retry = await ps.push(worker(0), 0, 1, new Float32Array([1, 0, 0]));
    expect(retry.updateCount).toBe(1);
    expect((await ps.pull(worker(0), 1))[0]).toBe(-1);
  });

  it('refuses a worker ahead of the shard, a bad gradient and foreign tokens', async () => {
    const ps = shard('sync');
    await expect(ps.push(worker(0), 5, 1, new Float32Array(3))).rejects.toMatchObject({
      code: ErrorCode.Conflict,
    });
    await expect(ps.push(worker(0), 0, 1, new Float32Array(2))).rejects.toMatchObject({
      code: ErrorCode.InvalidRequest,
    });
    await expect(ps.push(worker(0), 0, 1, new Float32Array([0, NaN, 0]))).rejects.toThrow(
      /not finite/,
    );
    await expect(ps.push(worker(0, 0, 1), 0, 1, new Float32Array(3))).rejects.toMatchObject({
      code: ErrorCode.Fenced,
    });
    await expect(
      ps.push({ ...worker(0), jobId: 'other' }, 0, 1, new Float32Array(3)),
    ).rejects.toMatchObject({ code: ErrorCode.Fenced });
    await expect(ps.push(worker(2), 0, 1, new Float32Array(3))).rejects.toMatchObject({
      code: ErrorCode.Fenced,
    });
  });

  it('drops the pending push of a replaced worker and fences its old attempt', async () => {
    const ps = shard('sync');
    const old = ps.push(worker(0, 0), 0, 1, new Float32Array([100, 100, 100]));
    const replaced = ps.push(worker(0, 1), 0, 1, new Float32Array([1, 1, 1]));
    await expect(old).rejects.toMatchObject({ code: ErrorCode.Fenced });
    await ps.push(worker(1), 0, 1, new Float32Array([1, 1, 1]));
    await replaced;
    expect(Array.from(await ps.pull(worker(1), 1))).toEqual([-1, -1, -1]);
    await expect(ps.pull(worker(0, 0), 1)).rejects.toMatchObject({ code: ErrorCode.Fenced });
  });
});

describe('PsShard (async)', () => {
  it('applies every push on arrival', async () => {
    const ps = shard('async');
    const ack = await ps.push(worker(1), 7, 4, new Float32Array([1, 2, 3]));
    expect(ack.updateCount).toBe(1);
    await ps.push(worker(0), 0, 4, new Float32Array([1, 2, 3]));
    expect(Array.from(await ps.pull(worker(0), 0))).toEqual([-2, -4, -6]);
    expect(ps.snapshot().positions).toEqual({ 'worker-1': 8, 'worker-0': 1 });
  });
});

describe('shard checkpoints', () => {
  it('round-trips parameters, optimizer state and counters, and restores a shard from them', async () => {
    const states: ShardState[] = [];
    const ps = shard('sync', {
      optimizer: { kind: 'adam', learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
      checkpointEvery: 2,
      onCheckpoint: (state) => states.push(state),
    });
    for (let step = 0; step < 3; step += 1) {
      await Promise.all([
        ps.push(worker(0), step, 1, new Float32Array([1, -1, 0.5])),
        ps.push(worker(1), step, 1, new Float32Array([1, 1, 0.5])),
      ]);
    }
    expect(states.map((state) => state.step)).toEqual([2]);
    const bytes = encodeShardState(ps.snapshot());
    const restored = decodeShardState(bytes, {
      kind: 'adam',
      learningRate: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
    });
    expect(restored).toMatchObject({ jobId: 'job1', generation: 2, step: 3, updateCount: 3 });
    expect(() => decodeShardState(bytes, { kind: 'sgd', learningRate: 1 })).toThrow(/adam/);
    const twin = shard('sync', {
      optimizer: { kind: 'adam', learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
      restore: restored,
    });
    for (const target of [ps, twin]) {
      await Promise.all([
        target.push(worker(0), 3, 1, new Float32Array([2, 2, 2])),
        target.push(worker(1), 3, 1, new Float32Array([0, 0, 0])),
      ]);
    }
    expect(Array.from(await twin.pull(worker(0), 4))).toEqual(
      Array.from(await ps.pull(worker(0), 4)),
    );
  });
});
