import { describe, expect, it } from 'vitest';
import { bucketIndex, minmax, signedLog1p, standardize } from './scalers';

describe('scalers (hand-computed)', () => {
  it('standardizes with the population std, and never divides by a zero std', () => {
    expect(standardize(4, 3, 2)).toBe(0.5);
    expect(standardize(1, 3, 2)).toBe(-1);
    expect(standardize(9, 7, 0)).toBe(2);
    expect(standardize(7, 7, 0)).toBe(0);
  });

  it('min-max scales without clipping; a zero range gives 0', () => {
    expect(minmax(4, 1, 6)).toBe(0.6);
    expect(minmax(11, 1, 6)).toBe(2);
    expect(minmax(-4, 1, 6)).toBe(-1);
    expect(minmax(5, 5, 5)).toBe(0);
  });

  it('log1p is mirrored for negatives, so it is finite everywhere', () => {
    expect(signedLog1p(0)).toBe(0);
    expect(signedLog1p(Math.E - 1)).toBeCloseTo(1, 15);
    expect(signedLog1p(3)).toBeCloseTo(1.3862943611198906, 15); // ln 4
    expect(signedLog1p(-3)).toBeCloseTo(-1.3862943611198906, 15);
    expect(signedLog1p(-1)).toBeCloseTo(-0.6931471805599453, 15); // not -Infinity
    expect(signedLog1p(-0.5)).toBeCloseTo(-0.4054651081081644, 15); // -ln 1.5, not ln 0.5
  });

  it('buckets: below the first boundary is 0, at or above the last is k', () => {
    const b = [0, 10, 100];
    expect([-1e9, -5, 0, 9.99, 10, 99, 100, 1e9].map((x) => bucketIndex(x, b))).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3,
    ]);
    expect(bucketIndex(5, [5])).toBe(1);
    expect(bucketIndex(4.999, [5])).toBe(0);
  });
});
