import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, jetStreamManagerOf, jetStreamOf } from './jetstream';
import { JetStreamAcks, JetStreamPublishError } from './jetstream-acks';
import { connectNats } from './nats-connection';
import { PublishWindow } from './publish-window';

// Against the real JetStream of this machine (messaging cannot use @dln/testing, which uses it).
const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

describe('JetStreamAcks on a real JetStream', () => {
  const root = `t_js_acks_${randomBytes(4).toString('hex')}`;
  const stream = `${root.toUpperCase()}_PRED`;
  const encoder = new TextEncoder();
  let nc: NatsConnection;
  let acks: JetStreamAcks;

  beforeAll(async () => {
    nc = await connectNats({ servers: NATS_URL, name: 'js-acks-int-spec' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: stream,
      subjects: [`${root}.pred.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
      max_msg_size: 1_000,
    });
    acks = new JetStreamAcks(nc, 5_000);
  });

  afterAll(async () => {
    acks.close();
    await (await jetStreamManagerOf(nc)).streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  it('stores through a publish window, and recognises duplicates by msg id', async () => {
    const window = new PublishWindow(acks, 64);
    const send = async (from: number, count: number) => {
      const batch = window.batch();
      let i = from;
      await batch.publishFrom(() =>
        i < from + count
          ? { subject: `${root}.pred.m`, data: encoder.encode(`s${i}`), msgID: `r${i++}` }
          : undefined,
      );
      return batch.flush();
    };
    expect(await send(0, 1_000)).toEqual({ stored: 1_000, duplicates: 0 });
    expect(await send(900, 200)).toEqual({ stored: 100, duplicates: 100 });
    expect(acks.pending).toBe(0);
    const info = await (await jetStreamManagerOf(nc)).streams.info(stream);
    expect(info.state.messages).toBe(1_100);
    // The stored message carries its msg id, as js.publish would set it.
    const stored = await (await jetStreamManagerOf(nc)).streams.getMessage(stream, { seq: 1 });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('r0');
    // Same answers as the client's own publish.
    const own = await jetStreamOf(nc).publish(`${root}.pred.m`, encoder.encode('x'), {
      msgID: 'r5',
    });
    expect(own.duplicate).toBe(true);
  });

  it('fails precisely: no stream on the subject, a message the stream refuses, a closed inbox', async () => {
    await expect(acks.publish(`${root}.nowhere`, encoder.encode('x'))).rejects.toThrow(
      new JetStreamPublishError(`no JetStream stream takes ${root}.nowhere`, true),
    );
    await expect(acks.publish(`${root}.pred.big`, new Uint8Array(2_000))).rejects.toThrow(
      /^JetStream refused the message on .*\.pred\.big: message size exceeds maximum allowed/,
    );
    const closing = new JetStreamAcks(nc, 5_000);
    closing.close();
    await expect(closing.publish(`${root}.pred.m`, encoder.encode('x'))).rejects.toThrow(
      'the ack inbox is closed',
    );
  });
});
