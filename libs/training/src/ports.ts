import { RoleReport, SequenceRanges } from '@dln/contracts';
import { PushAck } from './ps-shard';

/**
 * How a worker reaches the ps shards; the NATS implementation lives in @dln/ps-wire, tests may
 * call PsShard objects directly. Values are a shard's packed vector (ParameterLayout shardOffset).
 */
export interface ShardClient {
  pull(shard: number, step: number): Promise<Float32Array>;
  /**
   * `gradient` is null when `count` is 0 (a worker out of data in sync mode). With `withParams`
   * (and examples) the reply also carries the shard's values once the push is applied: exactly
   * what a pull of the acknowledged step returns, one round trip fewer. `batch` (stream jobs)
   * names the stream sequences of the examples: a shard applies a batch once (PsHeader.batch).
   */
  push(
    shard: number,
    step: number,
    count: number,
    gradient: Float32Array | null,
    withParams?: boolean,
    batch?: SequenceRanges,
  ): Promise<PushReply>;
}

/** A push's acknowledgement, with the shard's values when they were asked for. */
export type PushReply = PushAck & {
  params?: Float32Array;
  /** Stream pushes: the shard had applied this batch before and applied nothing now. */
  duplicate?: boolean;
};

/** The AM's epoch gate: resolves once the AM lets the workers go on (true) or stop (false). */
export interface EpochGate {
  pass(epoch: number): Promise<boolean>;
}

/** Where a role sends its reports (the AM's report subject); never blocks the role. */
export type ReportSink = (report: RoleReport) => void;
