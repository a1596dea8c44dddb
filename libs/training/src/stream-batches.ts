import { ConflictError, FencingToken, SequenceRanges } from '@dln/contracts';
import { PsShard, PushAck } from './ps-shard';

/** What a shard answers a stream push: its ack, and whether the batch had been applied before. */
export type StreamPushAck = PushAck & { duplicate: boolean };

/**
 * The stream sequences a shard has applied, as sorted disjoint inclusive ranges (adjacent ones
 * merged: the consumer hands sequences out roughly in order, so the set stays a few ranges).
 */
export class SequenceSet {
  private ranges: [number, number][] = [];
  private total = 0;

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

function sizeOf(ranges: SequenceRanges): number {
  return ranges.reduce((sum, [first, last]) => sum + last - first + 1, 0);
}

/**
 * A shard's memory of the stream batches it applied, in front of PsShard.push: a batch none of
 * whose sequences were applied is pushed (and remembered before the apply, so a concurrent copy
 * is recognised); one applied whole is answered as a duplicate without applying anything; one
 * applied in part is refused (workers push fresh deliveries together and redelivered ones one
 * by one, so this means a misbehaving client). A push of count 0 (undecodable messages) records
 * its sequences without an update.
 */
export class StreamBatches {
  private readonly applied = new SequenceSet();

  constructor(private readonly shard: PsShard) {}

  /** Sequences this shard has taken. */
  get sequences(): number {
    return this.applied.size;
  }

  get rangeCount(): number {
    return this.applied.rangeCount;
  }

  async push(
    token: FencingToken,
    step: number,
    count: number,
    gradient: Float32Array | null,
    batch: SequenceRanges,
  ): Promise<StreamPushAck> {
    const known = this.applied.countIn(batch);
    if (known === sizeOf(batch)) {
      return {
        step: this.shard.step,
        updateCount: this.shard.updateCount,
        heldMs: 0,
        duplicate: true,
      };
    }
    if (known > 0) {
      throw new ConflictError(
        `${token.role} pushed a batch of which ${known} of ${sizeOf(batch)} sequences were applied already`,
      );
    }
    this.applied.add(batch);
    try {
      return { ...(await this.shard.push(token, step, count, gradient)), duplicate: false };
    } catch (error) {
      this.applied.remove(batch);
      throw error;
    }
  }
}
