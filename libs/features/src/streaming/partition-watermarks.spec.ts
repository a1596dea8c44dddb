import { describe, expect, it } from 'vitest';
import { EventTimeBuffer, OfferOutcome, StreamInput, TimedRecord } from './event-time-buffer';

const rec = (input: StreamInput, partition: number, id: string, time: number): TimedRecord => ({
  input,
  partition,
  id,
  time,
  record: {},
});
const ev = (partition: number, id: string, time: number) => rec('event', partition, id, time);
const lb = (id: string, time: number) => rec('label', 0, id, time);
const ids = (records: TimedRecord[]) => records.map((r) => r.id);

/** mulberry32: a fixed-seed generator, so every run tests the same interleavings. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('per-partition watermarks', () => {
  it('decides lateness by the record’s own partition; the watermark is the lowest partition’s', () => {
    const buffer = new EventTimeBuffer(['event'], 10, { partitions: { event: [0, 1] } });
    expect(buffer.offer(ev(0, 'a', 100))).toBe('accepted'); // partition 0 at 90
    expect(buffer.watermark).toBeUndefined(); // partition 1 has had nothing yet
    expect(buffer.offer(ev(1, 'b', 50))).toBe('accepted'); // behind partition 0, not late
    expect(buffer.watermark).toBe(40);
    expect(buffer.release()).toEqual([]);
    expect(buffer.offer(ev(1, 'c', 45))).toBe('accepted'); // 45 >= 40
    expect(buffer.offer(ev(1, 'd', 39))).toBe('late'); // 39 < 40
    expect(buffer.offer(ev(1, 'e', 70))).toBe('accepted'); // partition 1 at 60
    expect(ids(buffer.release())).toEqual(['c', 'b']);
    expect(buffer.offer(ev(0, 'f', 55))).toBe('late'); // partition 0 is at 90
    expect(buffer.offer(ev(0, 'a', 100))).toBe('duplicate');
    expect(buffer.offer(ev(1, 'b', 50))).toBe('late'); // a copy of a released record
    expect(buffer.partitionWatermark('event', 0)).toBe(90);
    expect(buffer.inputWatermark('event')).toBe(60);
  });

  it('lets an idle partition or a silent input stop holding the watermark, never moving it back', () => {
    const buffer = new EventTimeBuffer(['event', 'label'], 0, {
      partitions: { event: [0, 1], label: [0] },
      idleTimeoutMs: 1000,
      now: 0,
    });
    buffer.offer(ev(0, 'e1', 10), 100);
    buffer.offer(ev(0, 'e2', 20), 200);
    expect(buffer.release(999)).toEqual([]); // event 1 and the labels hold it (not idle yet)
    expect(ids(buffer.release(1000))).toEqual(['e1']); // both idle since 0: only event 0 counts
    expect(buffer.watermark).toBe(20);
    expect(buffer.offer(lb('l1', 5), 1100)).toBe('late'); // behind what was released
    expect(buffer.offer(lb('l2', 30), 1100)).toBe('accepted'); // the labels are active again
    expect(buffer.release(1100)).toEqual([]); // min(20, 30)
    buffer.offer(ev(0, 'e3', 40), 1200);
    expect(ids(buffer.release(1200))).toEqual(['e2']); // min(40, 30)
    // All idle: event 0 had the last record (1200), the labels went idle before it did: 40.
    expect(ids(buffer.release(2200))).toEqual(['l2']);
    expect(buffer.watermark).toBe(40);
    expect(buffer.offer(ev(1, 'x', 25), 2300)).toBe('late'); // its own first record, but < 40
    expect(buffer.offer(ev(1, 'y', 45), 2300)).toBe('accepted');
    expect(ids(buffer.release(2300))).toEqual(['e3']); // only event 1 is active: 45
    expect(buffer.watermark).toBe(45);
  });

  it('when the whole stream pauses, the partition that had the last record decides', () => {
    const buffer = new EventTimeBuffer(['event', 'label'], 10, {
      partitions: { event: [0, 1], label: [0, 1] },
      idleTimeoutMs: 1000,
      now: 0,
    });
    buffer.offer(ev(0, 'a', 100), 0);
    buffer.offer(ev(1, 'b', 50), 0);
    buffer.offer(ev(1, 'c', 70), 0);
    expect(buffer.release(999)).toEqual([]); // the labels hold it
    expect(ids(buffer.release(1000))).toEqual(['b']); // all idle, both events last at 0: 60
    expect(buffer.watermark).toBe(60);
    // A record far ahead on partition 0 releases the rest: partition 1 is idle, 0 is active.
    buffer.offer(ev(0, 'z', 10_000), 1200);
    expect(ids(buffer.release(1200))).toEqual(['c', 'a']);
    expect(buffer.release(5000)).toEqual([]); // all idle: partition 0 had the last record
    expect(buffer.watermark).toBe(9990);
  });

  it('restores per-partition maxima and what was released; reads a state from before them', () => {
    const options = { partitions: { event: [0, 1] }, idleTimeoutMs: 1000, now: 0 };
    const buffer = new EventTimeBuffer(['event'], 5, options);
    buffer.offer(ev(0, 'a', 100), 0);
    buffer.offer(ev(1, 'b', 60), 0);
    buffer.offer(ev(1, 'c', 58), 0);
    expect(ids(buffer.release(0))).toEqual([]);
    buffer.offer(ev(1, 'd', 70), 0);
    expect(ids(buffer.release(0))).toEqual(['c', 'b']);
    const restored = EventTimeBuffer.from(
      ['event'],
      5,
      JSON.parse(JSON.stringify(buffer.state())),
      { ...options, now: 5000 },
    );
    expect(restored.watermark).toBe(65);
    expect(restored.offer(ev(1, 'e', 64), 5000)).toBe('late');
    expect(restored.offer(ev(0, 'f', 96), 5000)).toBe('accepted'); // partition 0 is at 95
    expect(ids(restored.release(5000))).toEqual([]);

    const old = EventTimeBuffer.from(
      ['event'],
      5,
      { maxTime: { event: 100 }, buffered: [ev(0, 'a', 100)] },
      options,
    );
    expect(old.offer(ev(1, 'g', 94), 0)).toBe('late'); // every partition starts at the input's max
    expect(old.watermark).toBe(95);
  });

  it('decides and releases the same way whatever the interleaving of the partitions (replay)', () => {
    // Five partitions of two inputs, each with its own fixed order: mostly rising times with
    // jitter inside and beyond the lateness, and copies of earlier records.
    const next = random(7);
    const lateness = 20;
    const sequences: TimedRecord[][] = [];
    for (const [input, partition] of [
      ['event', 0],
      ['event', 1],
      ['event', 2],
      ['label', 0],
      ['label', 1],
    ] as const) {
      const sequence: TimedRecord[] = [];
      let clock = Math.floor(next() * 50);
      for (let i = 0; i < 150; i += 1) {
        clock += Math.floor(next() * 8);
        const time = clock - Math.floor(next() * 2.2 * lateness);
        sequence.push(rec(input, partition, `${input[0]}${partition}-${i}`, time));
        if (next() < 0.08) sequence.push({ ...sequence[Math.floor(next() * sequence.length)]! });
      }
      sequences.push(sequence);
    }
    const options = { partitions: { event: [0, 1, 2], label: [0, 1] } };
    const replay = (seed: number, restoreAt?: number) => {
      const pick = random(seed);
      const cursors = sequences.map(() => 0);
      let buffer = new EventTimeBuffer(['event', 'label'], lateness, options);
      const outcomes: string[] = [];
      const released: string[] = [];
      for (let step = 0; cursors.some((c, s) => c < sequences[s]!.length); step += 1) {
        if (step === restoreAt) {
          const state = JSON.parse(JSON.stringify(buffer.state()));
          buffer = EventTimeBuffer.from(['event', 'label'], lateness, state, options);
        }
        const open = sequences.flatMap((seq, s) =>
          (cursors[s] as number) < seq.length ? [s] : [],
        );
        const s = open[Math.floor(pick() * open.length)] as number;
        const record = sequences[s]![cursors[s]!]!;
        const outcome: OfferOutcome = buffer.offer(record);
        outcomes.push(`${s}/${cursors[s]}:${record.id}:${outcome}`);
        cursors[s] = (cursors[s] as number) + 1;
        released.push(...ids(buffer.release()));
      }
      return { outcomes: outcomes.sort(), released, left: ids([...buffer.state().buffered]) };
    };
    const first = replay(1);
    expect(first.outcomes.filter((o) => o.endsWith(':late')).length).toBeGreaterThan(10);
    expect(first.outcomes.filter((o) => o.endsWith(':duplicate')).length).toBeGreaterThan(3);
    expect(first.released.length).toBeGreaterThan(500);
    for (let seed = 2; seed <= 30; seed += 1) expect(replay(seed)).toEqual(first);
    expect(replay(31, 400)).toEqual(first);
  });
});
