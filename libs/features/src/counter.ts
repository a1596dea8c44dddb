import { PIPELINE_LIMITS, ValidationError } from '@dln/contracts';

/** Compares in code-unit order for strings and numerically for numbers: locale-independent. */
function ascending<T extends string | number>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Counts distinct values, bounded so that a fit cannot exhaust memory. */
export class Counter<T extends string | number> {
  private readonly counts = new Map<T, number>();

  constructor(private readonly what: string) {}

  add(value: T): void {
    const count = this.counts.get(value);
    if (count !== undefined) {
      this.counts.set(value, count + 1);
      return;
    }
    if (this.counts.size >= PIPELINE_LIMITS.distinctValues) {
      throw new ValidationError(
        `${this.what}: more than ${PIPELINE_LIMITS.distinctValues} distinct values`,
      );
    }
    this.counts.set(value, 1);
  }

  get size(): number {
    return this.counts.size;
  }

  /** Values by count, most frequent first; equal counts in ascending value order. */
  ranked(minCount = 1): T[] {
    return [...this.counts.entries()]
      .filter(([, count]) => count >= minCount)
      .sort(([a, ca], [b, cb]) => cb - ca || ascending(a, b))
      .map(([value]) => value);
  }

  /** The most frequent value (smallest among ties), or undefined when nothing was counted. */
  mode(): T | undefined {
    let best: T | undefined;
    let bestCount = 0;
    for (const [value, count] of this.counts) {
      if (
        count > bestCount ||
        (count === bestCount && best !== undefined && ascending(value, best) < 0)
      ) {
        best = value;
        bestCount = count;
      }
    }
    return best;
  }
}

/** Welford's running mean and population variance, with min and max. */
export class RunningStats {
  count = 0;
  mean = 0;
  private m2 = 0;
  min = Infinity;
  max = -Infinity;

  add(x: number): void {
    this.count += 1;
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  /** Population standard deviation (divides by n), 0 for fewer than two values. */
  get std(): number {
    return this.count < 2 ? 0 : Math.sqrt(this.m2 / this.count);
  }
}
