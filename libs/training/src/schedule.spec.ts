import { describe, expect, it } from 'vitest';
import { batchAt, epochOrder, stepsPerEpoch } from './schedule';
import { splitByWorker, workerSplitOf } from './split';

describe('worker split', () => {
  it('is deterministic, covers every record once and is roughly even', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `id-${i}`);
    const parts = splitByWorker(ids, 3);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
    for (const part of parts) expect(part.length).toBeGreaterThan(900);
    expect(workerSplitOf('id-7', 3)).toBe(workerSplitOf('id-7', 3));
    expect(splitByWorker(ids, 1)[0]).toHaveLength(3000);
    expect(() => workerSplitOf('x', 0)).toThrow(/positive/);
  });
});

describe('batch schedule', () => {
  it('shuffles per epoch and worker, deterministically from the seed', () => {
    const a = epochOrder(50, 1, 0, 0);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochOrder(50, 1, 0, 0)).toEqual(a);
    expect(epochOrder(50, 1, 1, 0)).not.toEqual(a);
    expect(epochOrder(50, 1, 0, 1)).not.toEqual(a);
    expect(epochOrder(50, 2, 0, 0)).not.toEqual(a);
  });

  it('runs as many steps as the largest part needs, with a short last batch', () => {
    expect(stepsPerEpoch([10, 33, 0], 8)).toBe(5);
    expect(stepsPerEpoch([0, 0], 8)).toBe(0);
    const order = epochOrder(10, 3, 0, 0);
    expect(batchAt(order, 1, 8)).toHaveLength(2);
    expect(batchAt(order, 2, 8)).toEqual([]);
  });
});
