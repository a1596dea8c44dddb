import { ConflictError, FencingToken, SequenceRanges } from '@dln/contracts';
import { PsShard, PushAck } from './ps-shard';
import { SequenceSet } from './sequence-set';

export { SequenceSet } from './sequence-set';

/** What a shard answers a stream push: its ack, and whether the batch had been applied before. */
export type StreamPushAck = PushAck & { duplicate: boolean };

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
  /** Held by the shard: its checkpoints carry it, so a restored shard still knows them. */
  private readonly applied: SequenceSet;

  constructor(private readonly shard: PsShard) {
    this.applied = shard.streamSequences;
  }

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
