import { describe, expect, it } from 'vitest';
import { stepsPerEpoch } from './schedule';
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

describe('sync schedule', () => {
  it('runs as many steps as the largest part needs', () => {
    expect(stepsPerEpoch([10, 33, 0], 8)).toBe(5);
    expect(stepsPerEpoch([0, 0], 8)).toBe(0);
    expect(() => stepsPerEpoch([1], 0)).toThrow(/positive/);
  });
});
