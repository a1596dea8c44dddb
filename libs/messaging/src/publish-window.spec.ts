import type { PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { JetStreamPublisher, OutgoingMessage, PublishWindow } from './publish-window';

interface Sent {
  subject: string;
  data: string;
  options: unknown;
  ack(duplicate?: boolean): void;
  fail(err: Error): void;
}

/** A publisher whose acks the test gives, one by one, in any order. */
function controlledPublisher(): { js: JetStreamPublisher; sent: Sent[] } {
  const sent: Sent[] = [];
  const publish = (subject: string, data?: Uint8Array | string, options?: unknown) =>
    new Promise<PubAck>((resolve, reject) => {
      sent.push({
        subject,
        data: String(data),
        options,
        ack: (duplicate = false) => resolve({ stream: 'S', seq: sent.length, duplicate } as PubAck),
        fail: reject,
      });
    });
  return { js: { publish } as JetStreamPublisher, sent };
}

const message = (data: string): OutgoingMessage => ({ subject: 'a.b', data });
const sentAt = (sent: Sent[], index: number): Sent => {
  const s = sent[index];
  if (!s) throw new Error(`no publish #${index}`);
  return s;
};
/** Lets every settled promise's callbacks run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('PublishWindow', () => {
  it('refuses a limit that is not a positive integer', () => {
    const { js } = controlledPublisher();
    for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new PublishWindow(js, limit)).toThrow(RangeError);
  });

  it('sends at once while a slot is free and waits once the limit is reached', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 2);
    const batch = window.batch();
    await batch.publish(message('1'));
    await batch.publish(message('2'));
    let third = false;
    const waiting = batch.publish(message('3')).then(() => (third = true));
    await turn();
    expect(sent.map((s) => s.data)).toEqual(['1', '2']);
    expect([window.inFlight, window.waiting, third]).toEqual([2, 1, false]);
    sentAt(sent, 0).ack();
    await waiting;
    // The freed slot went straight to the waiting message: the bound never moved.
    expect(sent.map((s) => s.data)).toEqual(['1', '2', '3']);
    expect([window.inFlight, window.waiting]).toEqual([2, 0]);
  });

  it('passes msgID and headers of each message, and nothing when a message has none', async () => {
    const { js, sent } = controlledPublisher();
    const batch = new PublishWindow(js, 4).batch();
    const headers = natsHeaders();
    headers.set('X-Record-Id', 'r1');
    await batch.publish({ subject: 's.1', data: 'x', msgID: 'id-1', headers });
    await batch.publish({ subject: 's.2', data: 'y' });
    expect(sentAt(sent, 0).subject).toBe('s.1');
    expect(sentAt(sent, 0).options).toEqual({ msgID: 'id-1', headers });
    expect(sentAt(sent, 1).options).toEqual({});
  });

  it('counts stored and duplicate acks per batch and flushes when every ack is in', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 8);
    const a = window.batch();
    const b = window.batch();
    for (const data of ['a1', 'a2', 'a3']) await a.publish(message(data));
    await b.publish(message('b1'));
    let flushed = false;
    const flushing = a.flush().then((outcome) => ((flushed = true), outcome));
    sentAt(sent, 0).ack();
    sentAt(sent, 1).ack(true);
    await turn();
    expect([flushed, a.pending]).toEqual([false, 1]);
    sentAt(sent, 2).ack();
    expect(await flushing).toEqual({ stored: 2, duplicates: 1 });
    expect([a.attempted, b.pending, window.inFlight]).toEqual([3, 1, 1]);
    sentAt(sent, 3).ack(true);
    // Two callers flushing the same batch both see the end.
    expect(await Promise.all([b.flush(), b.flush()])).toEqual([
      { stored: 0, duplicates: 1 },
      { stored: 0, duplicates: 1 },
    ]);
  });

  it('shares its slots between concurrent callers, serving waiters in order, never past the limit', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 3);
    const callers = ['a', 'b', 'c'].map((name) => ({ name, batch: window.batch() }));
    const runs = callers.map(async ({ name, batch }) => {
      for (let i = 0; i < 4; i += 1) await batch.publish(message(`${name}${i}`));
      return batch.flush();
    });
    let most = 0;
    for (let acked = 0; acked < 12; acked += 1) {
      await turn();
      most = Math.max(most, window.inFlight);
      sentAt(sent, acked).ack(acked % 4 === 3);
    }
    const outcomes = await Promise.all(runs);
    expect(most).toBe(3);
    expect(window.inFlight).toBe(0);
    expect(outcomes).toEqual(Array(3).fill({ stored: 3, duplicates: 1 }));
    // Each caller got its next slot in turn: no caller overtook another.
    expect(sent.map((s) => s.data).join(' ')).toBe('a0 b0 c0 a1 b1 c1 a2 b2 c2 a3 b3 c3');
  });

  it('reports a failure to the batch that owns the message, and to its flush once the rest settled', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 2);
    const failing = window.batch();
    const other = window.batch();
    await failing.publish(message('f1'));
    await failing.publish(message('f2'));
    const queued = failing.publish(message('f3'));
    const otherQueued = other.publish(message('o1'));
    const first = new Error('no stream');
    sentAt(sent, 0).fail(first);
    // The failed batch's waiting message is not sent; its slot goes on to the other caller.
    await expect(queued).rejects.toBe(first);
    await otherQueued;
    expect(sent.map((s) => s.data)).toEqual(['f1', 'f2', 'o1']);
    await expect(failing.publish(message('f4'))).rejects.toBe(first);
    let flushed = false;
    const flushing = failing.flush().catch((err: unknown) => ((flushed = true), err));
    await turn();
    expect(flushed).toBe(false);
    sentAt(sent, 1).fail(new Error('second'));
    expect(await flushing).toBe(first);
    expect([failing.hasFailed, failing.failure, failing.outcome, failing.attempted]).toEqual([
      true,
      first,
      { stored: 0, duplicates: 0 },
      2,
    ]);
    sentAt(sent, 2).ack();
    expect(await other.flush()).toEqual({ stored: 1, duplicates: 0 });
    expect(other.hasFailed).toBe(false);
    expect(window.inFlight).toBe(0);
  });

  it('sends past the limit without waiting, and room() waits until the window is below it', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 2);
    const batch = window.batch();
    for (const data of ['1', '2', '3']) batch.send(message(data));
    expect([sent.length, window.inFlight]).toEqual([3, 3]);
    let roomy = false;
    const room = batch.room().then(() => (roomy = true));
    sentAt(sent, 0).ack();
    await turn();
    expect(roomy).toBe(false);
    sentAt(sent, 1).ack();
    await room;
    expect(window.inFlight).toBe(1);
    await batch.room();
    sentAt(sent, 2).fail(new Error('lost'));
    await turn();
    await expect(batch.room()).rejects.toThrow('lost');
    await expect(batch.flush()).rejects.toThrow('lost');
  });

  it('publishFrom pulls a message only when a slot is free, and fills every free slot at once', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 3);
    const other = window.batch();
    await other.publish(message('o0'));
    const batch = window.batch();
    let pulled = 0;
    const done = batch.publishFrom(() => (pulled < 6 ? message(`p${pulled++}`) : undefined));
    // Synchronously: the two free slots are filled, nothing more is pulled.
    expect([pulled, window.inFlight]).toEqual([2, 3]);
    const queued = other.publish(message('o1'));
    sentAt(sent, 0).ack();
    sentAt(sent, 1).ack();
    await turn();
    // The first freed slot went to the pump (waiting first), the second to the other caller.
    expect(sent.map((s) => s.data)).toEqual(['o0', 'p0', 'p1', 'p2', 'o1']);
    await queued;
    for (let i = 2; i < 5; i += 1) sentAt(sent, i).ack();
    await turn();
    // Three slots freed in one turn: the pump sent its last three in that turn.
    expect(sent.map((s) => s.data).slice(5)).toEqual(['p3', 'p4', 'p5']);
    // It learns that the source is exhausted with the next free slot, which it passes on.
    for (let i = 5; i < 8; i += 1) sentAt(sent, i).ack(i === 7);
    await done;
    expect(pulled).toBe(6);
    expect(await batch.flush()).toEqual({ stored: 5, duplicates: 1 });
    expect(window.inFlight).toBe(0);
  });

  it('publishFrom stops pulling after a failure or when the source throws, and gives its slot back', async () => {
    const { js, sent } = controlledPublisher();
    const window = new PublishWindow(js, 2);
    const batch = window.batch();
    let pulled = 0;
    const done = batch.publishFrom(() => message(`m${pulled++}`));
    const lost = new Error('lost');
    sentAt(sent, 0).fail(lost);
    await expect(done).rejects.toBe(lost);
    expect(pulled).toBe(2);
    sentAt(sent, 1).ack();
    await expect(batch.flush()).rejects.toBe(lost);
    expect(window.inFlight).toBe(0);

    const broken = window.batch();
    const bad = new Error('bad record');
    let count = 0;
    await expect(
      broken.publishFrom(() => {
        if (count === 1) throw bad;
        count += 1;
        return message('ok');
      }),
    ).rejects.toBe(bad);
    expect(window.inFlight).toBe(1);
    sentAt(sent, 2).ack();
    expect(await broken.flush()).toEqual({ stored: 1, duplicates: 0 });
    expect(window.inFlight).toBe(0);
  });
});
