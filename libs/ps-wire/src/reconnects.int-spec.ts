import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, NatsConnection } from '@dln/messaging';
import { TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { RECONNECTED, Reconnects } from './reconnects';

describe('Reconnects.race (a reconnect itself: nats-restart.int-spec)', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'reconnects-int' });
  });
  afterAll(async () => {
    await nc.drain();
  });

  it('passes a request outcome through and keeps nothing of it once settled', async () => {
    const reconnects = new Reconnects(nc);
    const subject = `${uniqueRoot('reconnects')}.echo`;
    const sub = nc.subscribe(subject, { callback: (_error, msg) => void msg.respond(msg.data) });
    for (let i = 0; i < 50; i += 1) {
      const reply = await reconnects.race(nc.request(subject, new Uint8Array([i])));
      if (reply === RECONNECTED) throw new Error('no reconnect happened');
      expect(reply.data[0]).toBe(i);
    }
    const failure = reconnects.race(nc.request(`${subject}.nobody`, new Uint8Array(1)));
    await expect(failure).rejects.toThrow(/no responders/i);
    expect(reconnects.waiting).toBe(0);
    const pending = reconnects.race(new Promise<never>(() => undefined));
    expect(reconnects.waiting).toBe(1);
    void pending;
    sub.unsubscribe();
  });
});
