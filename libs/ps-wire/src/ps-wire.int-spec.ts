import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FencingToken, Subjects } from '@dln/contracts';
import { connectNats, NatsConnection } from '@dln/messaging';
import { TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { PsShard } from '@dln/training';
import { NatsShardClient } from './ps-client';
import { PS_HEADER_RESERVE } from './ps-codec';
import { PsResponder, servePsShard } from './ps-responder';

const root = uniqueRoot('ps_wire');
const subjects = new Subjects(root);
const jobId = 'wirejob';
const SIZE = 5000;
const token = (role: string, generation = 1, attempt = 0): FencingToken => ({
  jobId,
  generation,
  role,
  attempt,
});

describe('ps wire over real NATS', () => {
  let nc: NatsConnection;
  const responders: PsResponder[] = [];

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'ps-wire-test' });
  });

  afterAll(async () => {
    for (const responder of responders) await responder.close();
    await nc.drain();
  });

  function serve(shardIndex: number, generation = 1): PsShard {
    const shard = new PsShard({
      token: token(`ps-${shardIndex}`, generation),
      shard: shardIndex,
      workers: 2,
      mode: 'sync',
      optimizer: { kind: 'sgd', learningRate: 1 },
      params: Float32Array.from({ length: SIZE }, (_, i) => i),
    });
    responders.push(servePsShard({ nc, subjects, jobId, shardIndex, shard }));
    return shard;
  }

  // 4096 floats per message: 5000 floats travel in 2 chunks.
  const client = (role: string, generation = 1, attempt = 0) =>
    new NatsShardClient({
      nc,
      subjects,
      token: token(role, generation, attempt),
      shardSizes: [SIZE, SIZE],
      maxPayload: PS_HEADER_RESERVE + 4 * 4096,
      timeoutMs: 10_000,
    });

  it('pulls and pushes vectors above max_payload in chunks, with the sync combine intact', async () => {
    serve(0);
    const w0 = client('worker-0');
    const w1 = client('worker-1');
    const pulled = await w0.pull(0, 0);
    expect(pulled.length).toBe(SIZE);
    expect(pulled[4999]).toBe(4999);
    expect(pulled[2500]).toBe(2500);
    const ones = new Float32Array(SIZE).fill(1);
    const threes = new Float32Array(SIZE).fill(3);
    const [a, b] = await Promise.all([w0.push(0, 0, 3, ones), w1.push(0, 0, 1, threes)]);
    expect(a.updateCount).toBe(1);
    expect(b.step).toBe(1);
    expect(w0.stats.requests).toBe(2 + 2);
    const after = await w1.pull(0, 1);
    // (3 * 1 + 1 * 3) / 4 = 1.5
    expect(after[0]).toBeCloseTo(-1.5, 6);
    expect(after[4999]).toBeCloseTo(4999 - 1.5, 3);
  });

  it('answers a chunked push with the applied parameters when asked, instead of a later pull', async () => {
    const shard = serve(2);
    const sizes = [SIZE, SIZE, SIZE];
    const small = PS_HEADER_RESERVE + 4 * 4096;
    const w0 = new NatsShardClient({
      nc,
      subjects,
      token: token('worker-0'),
      shardSizes: sizes,
      maxPayload: small,
    });
    const w1 = new NatsShardClient({
      nc,
      subjects,
      token: token('worker-1'),
      shardSizes: sizes,
      maxPayload: small,
    });
    const [a, b] = await Promise.all([
      w0.push(2, 0, 1, new Float32Array(SIZE).fill(2), true),
      w1.push(2, 0, 1, new Float32Array(SIZE).fill(4), false),
    ]);
    expect(b.params).toBeUndefined();
    expect(a.step).toBe(1);
    expect(Array.from(a.params!)).toEqual(Array.from(await shard.pull(token('worker-0'), 1)));
    expect(a.params![4999]).toBeCloseTo(4999 - 3, 3);
  });

  it('carries errors back as DlnErrors, and a superseded shard stays silent', async () => {
    serve(1, 1);
    await expect(client('worker-0', 0).pull(1, 0)).rejects.toMatchObject({
      code: ErrorCode.Fenced,
    });
    await expect(client('worker-0').push(1, 3, 1, new Float32Array(SIZE))).rejects.toMatchObject({
      code: ErrorCode.Conflict,
    });
    const newer = new NatsShardClient({
      nc,
      subjects,
      token: token('worker-0', 2),
      shardSizes: [SIZE, SIZE],
      timeoutMs: 1000,
      // No answer is asked again (the shard may be restarting) until this runs out.
      unavailableMs: 3500,
    });
    await expect(newer.pull(1, 0)).rejects.toMatchObject({ code: ErrorCode.Timeout });
    await expect(
      new NatsShardClient({
        nc,
        subjects,
        token: token('worker-0'),
        shardSizes: [SIZE, SIZE, SIZE, SIZE],
        timeoutMs: 2000,
        unavailableMs: 300,
      }).pull(3, 0),
    ).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('leaves a request without an answer as soon as the role is told to stop', async () => {
    serve(5, 1);
    const stop = new AbortController();
    const waiting = new NatsShardClient({
      nc,
      subjects,
      // A newer generation: the shard stays silent.
      token: token('worker-0', 2),
      shardSizes: [SIZE, SIZE, SIZE, SIZE, SIZE, SIZE],
      timeoutMs: 30_000,
      signal: stop.signal,
    }).pull(5, 0);
    setTimeout(() => stop.abort(), 200);
    const started = performance.now();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
