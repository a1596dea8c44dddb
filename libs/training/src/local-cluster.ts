import { FencingToken } from '@dln/contracts';
import { EpochGate, PushReply, ShardClient } from './ports';
import { PsShard } from './ps-shard';

/** A ShardClient calling PsShard objects of this process directly (tests, single-host runs). */
export class LocalShardClient implements ShardClient {
  constructor(
    private readonly token: FencingToken,
    private readonly shards: readonly PsShard[],
  ) {}

  async pull(shard: number, step: number): Promise<Float32Array> {
    return Float32Array.from(await this.shardAt(shard).pull(this.token, step));
  }

  async push(
    shard: number,
    step: number,
    count: number,
    gradient: Float32Array | null,
    withParams = false,
  ): Promise<PushReply> {
    const target = this.shardAt(shard);
    const ack = await target.push(this.token, step, count, gradient);
    if (!withParams || count === 0) return ack;
    return { ...ack, params: Float32Array.from(await target.pull(this.token, ack.step)) };
  }

  private shardAt(shard: number): PsShard {
    const found = this.shards[shard];
    if (!found) throw new Error(`no shard ${shard}`);
    return found;
  }
}

/**
 * An epoch gate that lets the workers on once all of them reached the end of an epoch (the
 * barrier the AM's gate provides), and stops them after `epochs` or when `stopAfter` says so.
 */
export class BarrierGate {
  private readonly arrivals = new Map<
    number,
    { count: number; release: (proceed: boolean) => void; done: Promise<boolean> }
  >();

  constructor(
    private readonly workers: number,
    private readonly stopAfter: (epoch: number) => boolean = () => false,
  ) {}

  /** The gate of one worker. */
  forWorker(): EpochGate {
    return { pass: (epoch) => this.arrive(epoch) };
  }

  private arrive(epoch: number): Promise<boolean> {
    let entry = this.arrivals.get(epoch);
    if (!entry) {
      let release: (proceed: boolean) => void = () => undefined;
      const done = new Promise<boolean>((resolve) => (release = resolve));
      entry = { count: 0, release, done };
      this.arrivals.set(epoch, entry);
    }
    entry.count += 1;
    if (entry.count === this.workers) entry.release(!this.stopAfter(epoch));
    return entry.done;
  }
}
