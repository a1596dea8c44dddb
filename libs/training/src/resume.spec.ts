import { describe, expect, it } from 'vitest';
import { epochBatches } from '@dln/ml';
import { examplesBefore, loopStartOf } from './resume';

describe('loopStartOf', () => {
  it('maps a position inside an epoch to its epoch and step', () => {
    expect(loopStartOf(0, 10, 3)).toEqual({ epoch: 0, step: 0 });
    expect(loopStartOf(13, 10, 3)).toEqual({ epoch: 1, step: 3 });
  });

  it('resumes a position on an epoch boundary at the end of the epoch before (evaluation, gate)', () => {
    expect(loopStartOf(10, 10, 3)).toEqual({ epoch: 0, step: 10 });
    expect(loopStartOf(30, 10, 3)).toEqual({ epoch: 2, step: 10 });
  });

  it('has nothing to run without steps, and refuses a bad position', () => {
    expect(loopStartOf(5, 0, 3)).toEqual({ epoch: 3, step: 0 });
    expect(() => loopStartOf(-1, 10, 3)).toThrow(RangeError);
    expect(() => loopStartOf(Number.NaN, 10, 3)).toThrow(RangeError);
  });
});

describe('examplesBefore', () => {
  it('counts exactly the examples of the batches before the start', () => {
    const part = Array.from({ length: 103 }, (_, i) => i);
    const batches = epochBatches(part, 10, 7, 1, 0);
    const firstFour = batches.slice(0, 4).reduce((sum, batch) => sum + batch.length, 0);
    expect(examplesBefore({ epoch: 1, step: 4 }, 103, 10)).toBe(103 + firstFour);
    expect(examplesBefore({ epoch: 1, step: 11 }, 103, 10)).toBe(206);
    expect(examplesBefore({ epoch: 2, step: 0 }, 103, 10)).toBe(206);
  });
});
