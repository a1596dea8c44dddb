import { FencingToken, SequenceRanges } from '@dln/contracts';
import { ExampleBatch } from '@dln/ml';
import { PushReply, ShardClient } from './ports';
import { PsShard } from './ps-shard';
import { StreamBatches } from './stream-batches';

/** One message of the examples stream as a worker received it. */
export interface StreamDelivery {
  /** The message's stream sequence (the batch id is made of these). */
  seq: number;
  /** Delivered before (to this worker or another): it may have been applied already. */
  redelivered: boolean;
  /** Its row in the fetch's batch; null for a message that could not be decoded. */
  row: number | null;
  /** The stream snapshot version the example was encoded with (Dln-Snapshot-Version). */
  snapshotVersion: number | null;
}

/** What one fetch returned: deliveries (in stream order) and the decoded examples. */
export interface StreamFetch {
  deliveries: StreamDelivery[];
  batch: ExampleBatch;
}

/**
 * The examples stream as a worker sees it: a shared durable consumer. `fetch` waits a bounded
 * time for at most `max` messages (the bound is the backpressure: a worker only takes what it
 * can train on next); `ack` acknowledges messages once every shard confirmed their gradient.
 */
export interface StreamSource {
  fetch(max: number, signal: AbortSignal): Promise<StreamFetch>;
  ack(seqs: readonly number[]): Promise<void>;
}

/**
 * A ShardClient calling PsShard objects of this process, each behind its StreamBatches (tests,
 * single-host runs of stream jobs).
 */
export class LocalStreamShardClient implements ShardClient {
  constructor(
    private readonly token: FencingToken,
    private readonly shards: readonly PsShard[],
    private readonly batches: readonly StreamBatches[],
  ) {}

  async pull(shard: number, step: number): Promise<Float32Array> {
    return Float32Array.from(await this.at(this.shards, shard).pull(this.token, step));
  }

  async push(
    shard: number,
    step: number,
    count: number,
    gradient: Float32Array | null,
    withParams = false,
    batch?: SequenceRanges,
  ): Promise<PushReply> {
    const target = this.at(this.shards, shard);
    const ack = batch
      ? await this.at(this.batches, shard).push(this.token, step, count, gradient, batch)
      : await target.push(this.token, step, count, gradient);
    if (!withParams || count === 0) return ack;
    return { ...ack, params: Float32Array.from(await target.pull(this.token, ack.step)) };
  }

  private at<T>(list: readonly T[], shard: number): T {
    const found = list[shard];
    if (found === undefined) throw new Error(`no shard ${shard}`);
    return found;
  }
}
