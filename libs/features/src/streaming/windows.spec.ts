import { WindowSpec } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { aggregateAt, stepStart, WindowAggregator, windowStart } from './windows';

const tumbling: WindowSpec = { kind: 'tumbling', sizeMs: 100 };
const sliding: WindowSpec = { kind: 'sliding', sizeMs: 300, slideMs: 100 };

describe('window bounds', () => {
  it('ends a record window with the slide step holding its time', () => {
    expect([stepStart(250, tumbling), windowStart(250, tumbling)]).toEqual([200, 200]);
    // step [200, 300): window [0, 300)
    expect([stepStart(250, sliding), windowStart(250, sliding)]).toEqual([200, 0]);
    expect([stepStart(-50, tumbling), windowStart(-50, tumbling)]).toEqual([-100, -100]);
  });
});

describe('WindowAggregator', () => {
  it('sums per key the slide buckets of the window, strictly before t by release order', () => {
    const agg = new WindowAggregator({
      name: 's',
      key: 'k',
      window: sliding,
      aggregate: 'sum',
      field: 'x',
      transform: 'none',
    });
    agg.add('a', 10, 1); // bucket 0
    agg.add('a', 150, 2); // bucket 100
    agg.add('b', 160, 50);
    agg.add('a', 390, 4); // bucket 300
    // t = 395: window [100, 400): 2 + 4
    expect(agg.totals('a', 395)).toEqual({ count: 2, sum: 6 });
    // t = 299: window [0, 300): 1 + 2
    expect(agg.totals('a', 299)).toEqual({ count: 2, sum: 3 });
    expect(agg.totals('b', 395)).toEqual({ count: 1, sum: 50 });
    expect(agg.totals('c', 395)).toEqual({ count: 0, sum: 0 });
    expect(agg.takeDirty().sort()).toEqual(['a', 'b']);
    // Records at or after 400 see [200, 500) at the earliest: buckets 0 and 100 go, and key b.
    agg.prune(400);
    expect(agg.state()).toEqual({ a: [[300, 1, 4]] });
    expect(agg.takeDirty()).toEqual(['b']);
    const restored = WindowAggregator.from(agg.spec, JSON.parse(JSON.stringify(agg.state())));
    expect(restored.totals('a', 420)).toEqual({ count: 1, sum: 4 });
  });
});

describe('aggregateAt (serving read)', () => {
  const state = {
    watermark: 350,
    buckets: [
      [0, 1, 1],
      [100, 2, 10],
      [300, 1, 4],
    ] as [number, number, number][],
    pending: [
      [360, 8],
      [380, 16],
    ] as [number, number][],
  };

  it('adds the released buckets in the window and the pending events before t', () => {
    // t = 370 (sliding): window [100, 400): buckets 100 and 300 (12 + 4 = 14 over 3), pending 360 only
    expect(aggregateAt(state, sliding, 370)).toEqual({ count: 4, sum: 22, exact: true });
    // tumbling t = 380: step [300, 400): bucket 300 and pending 360 (380 is not before itself)
    expect(aggregateAt(state, tumbling, 380)).toEqual({ count: 2, sum: 12, exact: true });
    // t = 500: window [300, 600): bucket 300 + both pending
    expect(aggregateAt(state, sliding, 500)).toEqual({ count: 3, sum: 28, exact: true });
  });

  it('says when t is below the watermark (its step may hold later events)', () => {
    expect(aggregateAt(state, tumbling, 320).exact).toBe(false);
  });
});
