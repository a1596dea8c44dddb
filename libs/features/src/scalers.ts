/** Numeric scalings and bucketing; each is total (defined for every finite input). */

/** (x - mean) / std; with a zero std every input maps to x - mean (0 for the fitted data). */
export function standardize(x: number, mean: number, std: number): number {
  return std === 0 ? x - mean : (x - mean) / std;
}

/** (x - min) / (max - min), not clipped; 0 when max = min. */
export function minmax(x: number, min: number, max: number): number {
  const range = max - min;
  return range === 0 ? 0 : (x - min) / range;
}

/** sign(x) * ln(1 + |x|): log1p for x >= 0, mirrored for negatives so that it is defined everywhere. */
export function signedLog1p(x: number): number {
  return x < 0 ? -Math.log1p(-x) : Math.log1p(x);
}

/**
 * Index of the bucket of x: the number of boundaries <= x, so values below the first boundary
 * go to bucket 0 and values at or above the last to bucket k (k boundaries, k + 1 buckets).
 */
export function bucketIndex(x: number, boundaries: readonly number[]): number {
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((boundaries[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
