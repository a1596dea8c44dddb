import { getSha256Backend, Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from './nats-connection';

// Against the real JetStream of this machine (messaging cannot use @dln/testing, which uses it).
const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

describe('Object Store digests on a connection from connectNats', () => {
  const bucket = `t_object_digests_${randomBytes(4).toString('hex')}`;
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connectNats({ servers: NATS_URL, name: 'object-digests-test' });
  });
  afterAll(async () => {
    await new Objm(nc)
      .open(bucket)
      .then((store) => store.destroy())
      .catch(() => undefined);
    await nc.close();
  });

  it('hashes with node:crypto, and a stored blob comes back whole and verified', async () => {
    expect(getSha256Backend()).toBe('native');
    const store = await new Objm(nc).create(bucket);
    // Several 128 KB chunks: the digest covers the whole object, not one chunk.
    const blob = new Uint8Array(randomBytes(300_000));
    const info = await store.putBlob({ name: 'weights.bin' }, blob);
    const expected = `SHA-256=${Buffer.from(await crypto.subtle.digest('SHA-256', blob)).toString(
      'base64url',
    )}=`;
    expect(info.digest).toBe(expected);
    expect(Buffer.from((await store.getBlob('weights.bin'))!).equals(Buffer.from(blob))).toBe(true);
  });
});
