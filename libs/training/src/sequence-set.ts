import { SequenceRanges } from '@dln/contracts';

/**
 * The stream sequences a shard has applied, as sorted disjoint inclusive ranges (adjacent ones
 * merged: the consumer hands sequences out roughly in order, so the set stays a few ranges).
 */
export class SequenceSet {
  private ranges: [number, number][] = [];
  private total = 0;

  /** A set holding `ranges` (sorted, disjoint, non-adjacent as `toRanges` gives them). */
  static fromRanges(ranges: readonly (readonly [number, number])[]): SequenceSet {
    const set = new SequenceSet();
    let previous = -2;
    for (const [first, last] of ranges) {
      if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first)
        throw new Error(`bad stream sequence range [${first}, ${last}]`);
      if (first <= previous + 1)
        throw new Error(
          `stream sequence ranges are not sorted and disjoint at [${first}, ${last}]`,
        );
      previous = last;
      set.ranges.push([first, last]);
      set.total += last - first + 1;
    }
    return set;
  }

  /** The ranges held, sorted (a copy). */
  toRanges(): [number, number][] {
    return this.ranges.map(([first, last]) => [first, last]);
  }

  /** Sequences held. */
  get size(): number {
    return this.total;
  }

  /** Ranges held (gaps + 1): what the set costs. */
  get rangeCount(): number {
    return this.ranges.length;
  }

  /** How many of the sequences in `ranges` the set holds. */
  countIn(ranges: SequenceRanges): number {
    let found = 0;
    for (const [first, last] of ranges) {
      for (let i = this.firstEndingAtOrAfter(first); i < this.ranges.length; i += 1) {
        const [a, b] = this.ranges[i] as [number, number];
        if (a > last) break;
        found += Math.min(b, last) - Math.max(a, first) + 1;
      }
    }
    return found;
  }

  /** Adds the sequences (none of them may be held). */
  add(ranges: SequenceRanges): void {
    for (const [first, last] of ranges) this.addRange(first, last);
  }

  /** Removes sequences added by `add` (a push that failed after all). */
  remove(ranges: SequenceRanges): void {
    for (const [first, last] of ranges) {
      const next: [number, number][] = [];
      for (const [a, b] of this.ranges) {
        if (b < first || a > last) {
          next.push([a, b]);
          continue;
        }
        if (a < first) next.push([a, first - 1]);
        if (b > last) next.push([last + 1, b]);
        this.total -= Math.min(b, last) - Math.max(a, first) + 1;
      }
      this.ranges = next;
    }
  }

  private addRange(first: number, last: number): void {
    const i = this.firstEndingAtOrAfter(first - 1);
    let start = first;
    let end = last;
    let removed = 0;
    while (i + removed < this.ranges.length) {
      const [a, b] = this.ranges[i + removed] as [number, number];
      if (a > end + 1) break;
      start = Math.min(start, a);
      end = Math.max(end, b);
      this.total -= b - a + 1;
      removed += 1;
    }
    this.ranges.splice(i, removed, [start, end]);
    this.total += end - start + 1;
  }

  /** Index of the first range whose end is >= seq (binary search). */
  private firstEndingAtOrAfter(seq: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ranges[mid] as [number, number])[1] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
