import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, jetStreamManagerOf, jetStreamOf, publishAll } from './jetstream';
import { connectNats } from './nats-connection';
import { OutgoingMessage, PublishWindow } from './publish-window';

// Against the real JetStream of this machine (messaging cannot use @dln/testing, which uses it).
const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

describe('PublishWindow on a real JetStream', () => {
  const root = `t_publish_window_${randomBytes(4).toString('hex')}`;
  const stream = `${root.toUpperCase()}_RAW`;
  const encoder = new TextEncoder();
  let nc: NatsConnection;

  const messages = (caller: string, count: number, from = 0): OutgoingMessage[] =>
    Array.from({ length: count }, (_, i) => {
      const headers = natsHeaders();
      headers.set('X-Caller', caller);
      return {
        subject: `${root}.raw.${caller}`,
        data: encoder.encode(`${caller}-${from + i}`),
        msgID: `${caller}:${from + i}`,
        headers,
      };
    });

  beforeAll(async () => {
    nc = await connectNats({ servers: NATS_URL, name: 'publish-window-int-spec' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: stream,
      subjects: [`${root}.raw.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
    });
  });

  afterAll(async () => {
    await (await jetStreamManagerOf(nc)).streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  it('stores what concurrent callers publish through one window, counting duplicates by msgID', async () => {
    const window = new PublishWindow(jetStreamOf(nc), 16);
    let most = 0;
    const run = async (caller: string, batchMessages: OutgoingMessage[]) => {
      const batch = window.batch();
      for (const message of batchMessages) {
        await batch.publish(message);
        most = Math.max(most, window.inFlight);
      }
      return batch.flush();
    };
    const first = await Promise.all([run('a', messages('a', 500)), run('b', messages('b', 300))]);
    expect(first).toEqual([
      { stored: 500, duplicates: 0 },
      { stored: 300, duplicates: 0 },
    ]);
    expect(most).toBe(16);
    // A resend overlapping the first one: the stream keeps one message per id.
    const again = await run('a', messages('a', 200, 400));
    expect(again).toEqual({ stored: 100, duplicates: 100 });
    const jsm = await jetStreamManagerOf(nc);
    expect((await jsm.streams.info(stream)).state.messages).toBe(900);
    const stored = await jsm.streams.getMessage(stream, { last_by_subj: `${root}.raw.b` });
    expect(stored?.string()).toBe('b-299');
    expect(stored?.header.get('X-Caller')).toBe('b');
    expect(window.inFlight).toBe(0);
  });

  it('fails only the caller whose message no stream takes, and that caller flush', async () => {
    const window = new PublishWindow(jetStreamOf(nc), 4);
    const good = window.batch();
    const bad = window.batch();
    const sending = (async () => {
      for (const message of messages('c', 50)) await good.publish(message);
    })();
    await bad.publish({ subject: `${root}.nowhere`, data: encoder.encode('lost') });
    await expect(bad.flush()).rejects.toThrow();
    expect(bad.hasFailed).toBe(true);
    await expect(bad.publish(messages('c', 1)[0] as OutgoingMessage)).rejects.toBe(bad.failure);
    await sending;
    expect(await good.flush()).toEqual({ stored: 50, duplicates: 0 });
  });

  it('publishAll sends every message and returns the counts', async () => {
    const js = jetStreamOf(nc);
    expect(await publishAll(js, messages('d', 120), 8)).toEqual({ stored: 120, duplicates: 0 });
    expect(await publishAll(js, messages('d', 120), 8)).toEqual({ stored: 0, duplicates: 120 });
    await expect(
      publishAll(js, [...messages('e', 5), { subject: `${root}.nowhere`, data: 'x' }], 2),
    ).rejects.toThrow();
  });
});
