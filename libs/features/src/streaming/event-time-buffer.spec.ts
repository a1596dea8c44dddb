import { describe, expect, it } from 'vitest';
import { EventTimeBuffer, TimedRecord } from './event-time-buffer';
import { LabelJoiner } from './label-joiner';

const ev = (id: string, time: number): TimedRecord => ({ input: 'event', id, time, record: {} });
const lb = (id: string, time: number): TimedRecord => ({ input: 'label', id, time, record: {} });
const ids = (records: TimedRecord[]) => records.map((r) => r.id);

describe('EventTimeBuffer', () => {
  it('drops late records, de-duplicates buffered ones, releases in event-time order', () => {
    const buffer = new EventTimeBuffer(['event'], 10);
    expect(buffer.offer(ev('a', 100))).toBe('accepted'); // watermark 90
    expect(buffer.offer(ev('b', 95))).toBe('accepted'); // out of order, within the lateness
    expect(buffer.offer(ev('c', 89))).toBe('late'); // 89 < 90
    expect(buffer.offer(ev('d', 90))).toBe('accepted'); // at the watermark: not late
    expect(buffer.offer(ev('a', 100))).toBe('duplicate');
    expect(buffer.release()).toEqual([]); // nothing below 90
    expect(buffer.offer(ev('e', 106))).toBe('accepted'); // watermark 96
    expect(ids(buffer.release())).toEqual(['d', 'b']);
    expect(buffer.offer(ev('b', 95))).toBe('late'); // a copy of a released record is late
    expect(buffer.offer(ev('f', 130))).toBe('accepted'); // watermark 120
    expect(ids(buffer.release())).toEqual(['a', 'e']);
    expect(buffer.watermark).toBe(120);
    expect(ids([...buffer.records()])).toEqual(['f']);
  });

  it('waits for every input; events go before labels at one instant; restores exactly', () => {
    const buffer = new EventTimeBuffer(['event', 'label'], 0);
    buffer.offer(ev('e1', 10));
    buffer.offer(ev('e2', 20));
    expect(buffer.watermark).toBeUndefined();
    expect(buffer.release()).toEqual([]);
    buffer.offer(lb('l1', 10));
    buffer.offer(lb('l0', 10));
    buffer.offer(ev('e0', 10)); // event watermark is 20: 10 is late
    expect(buffer.watermark).toBe(10);
    expect(buffer.release()).toEqual([]); // strictly below 10
    buffer.offer(lb('l2', 25));
    const restored = EventTimeBuffer.from(
      ['event', 'label'],
      0,
      JSON.parse(JSON.stringify(buffer.state())),
    );
    for (const b of [buffer, restored]) {
      expect(b.watermark).toBe(20);
      expect(ids(b.release())).toEqual(['e1', 'l0', 'l1']);
    }
  });
});

describe('LabelJoiner', () => {
  it('joins the oldest unlabeled event of the key within the window; the rest time out', () => {
    const joiner = new LabelJoiner<string>(100);
    joiner.addEvent('a', 'k', 10, 'A');
    joiner.addEvent('b', 'k', 50, 'B');
    joiner.addEvent('c', 'j', 60, 'C');
    expect(joiner.addLabel('k', 105)).toMatchObject({ kind: 'joined', event: { id: 'a' } }); // 10 <= 105 < 110
    expect(joiner.addLabel('k', 108)).toMatchObject({ kind: 'joined', event: { id: 'b' } });
    expect(joiner.addLabel('k', 109)).toMatchObject({ kind: 'duplicate', event: { id: 'a' } });
    expect(joiner.addLabel('k', 120)).toMatchObject({ kind: 'duplicate', event: { id: 'b' } }); // a's window ended
    expect(joiner.addLabel('j', 40)).toEqual({ kind: 'unmatched' }); // before the event
    expect(joiner.addLabel('j', 160)).toEqual({ kind: 'unmatched' }); // 160 = 60 + 100: outside
    expect(joiner.expire(109)).toEqual([]);
    expect(joiner.size).toBe(3);
    expect(joiner.expire(160).map((e) => e.id)).toEqual(['c']); // a and b were labeled
    expect(joiner.size).toBe(0);
    expect(() => {
      const j = new LabelJoiner<string>(10);
      j.addEvent('x', 'k', 5, '');
      j.addEvent('y', 'k', 4, '');
    }).toThrow(/time order/);
  });
});
