import { AggregateFeatureSpec, KeyAggregateState, WindowSpec, windowSlideMs } from '@dln/contracts';

/** count and sum of the events in a record's window; mean is 0 when there are none. */
export interface WindowTotals {
  count: number;
  sum: number;
}

/** Start of the slide step holding t. */
export function stepStart(t: number, window: WindowSpec): number {
  const slide = windowSlideMs(window);
  return Math.floor(t / slide) * slide;
}

/** First instant of the window of a record at t: the window ends with t's slide step. */
export function windowStart(t: number, window: WindowSpec): number {
  return stepStart(t, window) + windowSlideMs(window) - window.sizeMs;
}

/** The feature value of the totals: count, sum, or mean (0 over no events). */
export function aggregateValue(
  spec: Pick<AggregateFeatureSpec, 'aggregate'>,
  totals: WindowTotals,
): number {
  if (spec.aggregate === 'count') return totals.count;
  if (spec.aggregate === 'sum') return totals.sum;
  return totals.count === 0 ? 0 : totals.sum / totals.count;
}

/** What an event adds to the totals: 1 to the count, its field value to the sum. */
export type Bucket = [count: number, sum: number];

/** Totals over the slide buckets of t's window (buckets hold released events only). */
export function bucketTotals(
  buckets: ReadonlyMap<number, Bucket>,
  window: WindowSpec,
  t: number,
): WindowTotals {
  const slide = windowSlideMs(window);
  const last = stepStart(t, window);
  let count = 0;
  let sum = 0;
  for (let start = windowStart(t, window); start <= last; start += slide) {
    const bucket = buckets.get(start);
    if (bucket) {
      count += bucket[0];
      sum += bucket[1];
    }
  }
  return { count, sum };
}

/**
 * Serving read: the aggregate of a record at time `at` from a stored per-key state, counting the
 * events strictly before `at`. Exact when `at` is not below the state's watermark (every
 * released event is); below it, `at`'s slide step may also hold events at or after `at`.
 */
export function aggregateAt(
  state: KeyAggregateState,
  window: WindowSpec,
  at: number,
): WindowTotals & { exact: boolean } {
  const from = windowStart(at, window);
  const last = stepStart(at, window);
  let count = 0;
  let sum = 0;
  for (const [start, c, s] of state.buckets) {
    if (start >= from && start <= last) {
      count += c;
      sum += s;
    }
  }
  for (const [time, value] of state.pending) {
    if (time >= from && time < at) {
      count += 1;
      sum += value;
    }
  }
  return { count, sum, exact: state.watermark === null || at >= state.watermark };
}

/** Serialized WindowAggregator: per key text, its buckets `[start, count, sum]`. */
export type WindowAggregatorState = Record<string, [number, number, number][]>;

/**
 * Per-key slide buckets of one aggregate feature. Events must be added in event-time order (the
 * stream releases them so), which is what makes "strictly before t" exact with buckets.
 */
export class WindowAggregator {
  private readonly keys = new Map<string, Map<number, Bucket>>();
  /** Keys whose buckets changed since the last `takeDirty`. */
  private dirty = new Set<string>();

  constructor(readonly spec: AggregateFeatureSpec) {}

  static from(spec: AggregateFeatureSpec, state: WindowAggregatorState): WindowAggregator {
    const aggregator = new WindowAggregator(spec);
    for (const [key, buckets] of Object.entries(state)) {
      aggregator.keys.set(key, new Map(buckets.map(([start, c, s]) => [start, [c, s] as Bucket])));
    }
    return aggregator;
  }

  totals(key: string, t: number): WindowTotals {
    const buckets = this.keys.get(key);
    return buckets ? bucketTotals(buckets, this.spec.window, t) : { count: 0, sum: 0 };
  }

  add(key: string, t: number, value: number): void {
    let buckets = this.keys.get(key);
    if (!buckets) {
      buckets = new Map();
      this.keys.set(key, buckets);
    }
    const start = stepStart(t, this.spec.window);
    const bucket = buckets.get(start);
    if (bucket) {
      bucket[0] += 1;
      bucket[1] += value;
    } else buckets.set(start, [1, value]);
    this.dirty.add(key);
  }

  /** Drops buckets no record at or after `frontier` can see; forgets keys left empty. */
  prune(frontier: number): void {
    const oldest = windowStart(frontier, this.spec.window);
    for (const [key, buckets] of this.keys) {
      for (const start of buckets.keys()) if (start < oldest) buckets.delete(start);
      if (buckets.size === 0) {
        this.keys.delete(key);
        this.dirty.add(key);
      }
    }
  }

  /** Buckets of one key, oldest first. */
  bucketsOf(key: string): [number, number, number][] {
    const buckets = this.keys.get(key);
    if (!buckets) return [];
    return [...buckets.entries()].sort(([a], [b]) => a - b).map(([start, [c, s]]) => [start, c, s]);
  }

  takeDirty(): string[] {
    const keys = [...this.dirty];
    this.dirty = new Set();
    return keys;
  }

  get keyCount(): number {
    return this.keys.size;
  }

  state(): WindowAggregatorState {
    const out: WindowAggregatorState = {};
    for (const key of [...this.keys.keys()].sort()) out[key] = this.bucketsOf(key);
    return out;
  }
}
