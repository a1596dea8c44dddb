/** Serializable state of OnlineStats (plain JSON; Infinity is not JSON, so min/max are null when empty). */
export interface OnlineStatsState {
  count: number;
  mean: number;
  m2: number;
  min: number | null;
  max: number | null;
}

/**
 * Welford's running mean and population variance, with min and max, whose state survives a
 * checkpoint exactly (the same floats, so a restored run continues bit for bit).
 */
export class OnlineStats {
  count = 0;
  mean = 0;
  private m2 = 0;
  min = Infinity;
  max = -Infinity;

  static from(state: OnlineStatsState): OnlineStats {
    const stats = new OnlineStats();
    stats.count = state.count;
    stats.mean = state.mean;
    stats.m2 = state.m2;
    stats.min = state.min ?? Infinity;
    stats.max = state.max ?? -Infinity;
    return stats;
  }

  add(x: number): void {
    if (!Number.isFinite(x))
      throw new RangeError(`running statistics take finite numbers, got ${x}`);
    this.count += 1;
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  /** Population variance (divides by n), 0 for fewer than two values. */
  get variance(): number {
    return this.count < 2 ? 0 : this.m2 / this.count;
  }

  get std(): number {
    return Math.sqrt(this.variance);
  }

  state(): OnlineStatsState {
    const empty = this.count === 0;
    return {
      count: this.count,
      mean: this.mean,
      m2: this.m2,
      min: empty ? null : this.min,
      max: empty ? null : this.max,
    };
  }
}

/**
 * A vocabulary that grows as values arrive: a new value gets the next id (1, 2, ...) until `cap`
 * values have ids; later new values are out-of-vocabulary (0). An id, once given, never changes,
 * so a model trained on an earlier snapshot keeps its meaning. `terms[i]` has id i + 1, the
 * same layout as a batch-fitted vocabulary.
 */
export class GrowingVocabulary {
  private readonly ids = new Map<string, number>();
  private readonly terms: string[] = [];
  /** Occurrences of values that came after the cap (out-of-vocabulary). */
  overflow = 0;

  constructor(readonly cap: number) {
    if (!Number.isSafeInteger(cap) || cap < 1)
      throw new RangeError(`vocabulary cap must be >= 1, got ${cap}`);
  }

  static from(cap: number, terms: readonly string[], overflow = 0): GrowingVocabulary {
    if (terms.length > cap)
      throw new RangeError(`vocabulary of ${terms.length} terms exceeds its cap ${cap}`);
    const vocabulary = new GrowingVocabulary(cap);
    for (const term of terms) vocabulary.observe(term);
    vocabulary.overflow = overflow;
    return vocabulary;
  }

  /** Adds the value if new and there is room; returns its id (0 when out of vocabulary). */
  observe(term: string): number {
    const known = this.ids.get(term);
    if (known !== undefined) return known;
    if (this.terms.length >= this.cap) {
      this.overflow += 1;
      return 0;
    }
    this.terms.push(term);
    const id = this.terms.length;
    this.ids.set(term, id);
    return id;
  }

  /** The id of a value without adding it (0 when unknown). */
  idOf(term: string): number {
    return this.ids.get(term) ?? 0;
  }

  get size(): number {
    return this.terms.length;
  }

  /** Terms in id order (a copy). */
  list(): string[] {
    return [...this.terms];
  }
}
