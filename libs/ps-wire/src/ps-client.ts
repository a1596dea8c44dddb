import {
  DlnError,
  ErrorCode,
  FencingToken,
  PsHeader,
  SequenceRanges,
  Subjects,
} from '@dln/contracts';
import type { NatsConnection } from '@nats-io/transport-node';
import { PushReply, ShardClient } from '@dln/training';
import { StoppedError, untilAborted } from './abortable';
import { MessagePool } from './message-pool';
import { RECONNECTED, Reconnects } from './reconnects';
import { chunkCount, chunkFloats, chunkRange, decodePsMessage, encodePsMessage } from './ps-codec';

export interface NatsShardClientOptions {
  nc: NatsConnection;
  subjects: Subjects;
  /** The worker's own token: every request carries it. */
  token: FencingToken;
  /** Floats held by each shard (ParameterLayout.shardSizes). */
  shardSizes: readonly number[];
  /**
   * One attempt's wait for a reply; then the request is sent again (pulls and pushes are
   * idempotent at the shard). Short enough that a shard that died mid-request is asked again
   * soon after its replacement serves.
   */
  timeoutMs?: number;
  /**
   * How long to keep asking (no responder: the shard is starting or being replaced; no reply: a
   * sync barrier waiting for a lost worker's replacement, a NATS restart) before giving up.
   */
  unavailableMs?: number;
  /** Stops the asking (the role is stopping). */
  signal?: AbortSignal;
  /** Defaults to the server's max_payload (nc.info.max_payload). */
  maxPayload?: number;
}

/** A shard's answer to a positions query. */
export interface ShardPositions {
  /** Per worker index, the next step the shard expects from it. */
  positions: number[];
  step: number;
  updateCount: number;
}

/** Wire time accounting of one client (milliseconds and bytes). */
export interface WireStats {
  requests: number;
  bytesOut: number;
  bytesIn: number;
}

/**
 * A worker's ShardClient over NATS request/reply: binary PsHeader + raw float32, vectors above
 * the server's max_payload split into chunks sent in parallel.
 */
export class NatsShardClient implements ShardClient {
  readonly stats: WireStats = { requests: 0, bytesOut: 0, bytesIn: 0 };
  private readonly perChunk: number;
  private readonly timeoutMs: number;
  private readonly unavailableMs: number;
  private readonly buffers = new MessagePool();
  /** A request in flight at a reconnect is sent again at once. */
  private readonly reconnects: Reconnects;

  constructor(private readonly options: NatsShardClientOptions) {
    const maxPayload = options.maxPayload ?? options.nc.info?.max_payload ?? 1024 * 1024;
    this.perChunk = chunkFloats(maxPayload);
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.unavailableMs = options.unavailableMs ?? 600_000;
    this.reconnects = new Reconnects(options.nc);
  }

  /** The shard's acknowledged position of every worker (PsHeader.positions), its step and update count. */
  async positions(shard: number): Promise<ShardPositions> {
    const subject = this.options.subjects.psPull(this.options.token.jobId, shard);
    const header = this.header(shard, 0, 0, 0, 1, this.sizeOf(shard));
    const reply = await this.request(subject, { ...header, positionsOnly: true });
    if (!reply.header.positions) {
      throw new DlnError(ErrorCode.Internal, `ps shard ${shard} answered no positions`, {
        retryable: true,
      });
    }
    const { positions, step, count } = reply.header;
    return { positions, step, updateCount: count };
  }

  async pull(shard: number, step: number): Promise<Float32Array> {
    const total = this.sizeOf(shard);
    const chunks = chunkCount(total, this.perChunk);
    const subject = this.options.subjects.psPull(this.options.token.jobId, shard);
    const replies = await Promise.all(
      Array.from({ length: chunks }, (_, chunk) =>
        this.request(subject, this.header(shard, step, 0, chunk, chunks, total)),
      ),
    );
    return this.assemble(replies, total, chunks);
  }

  async push(
    shard: number,
    step: number,
    count: number,
    gradient: Float32Array | null,
    withParams = false,
    batch?: SequenceRanges,
  ): Promise<PushReply> {
    const total = this.sizeOf(shard);
    const subject = this.options.subjects.psPush(this.options.token.jobId, shard);
    const chunks = count > 0 ? chunkCount(total, this.perChunk) : 1;
    if (count > 0 && gradient?.length !== total) {
      throw new DlnError(
        ErrorCode.InvalidRequest,
        `gradient for shard ${shard} has ${gradient?.length ?? 0} values, expected ${total}`,
      );
    }
    // A push without examples carries no chunks, so it cannot carry the parameters back either.
    const wantParams = withParams && count > 0;
    const replies = await Promise.all(
      Array.from({ length: chunks }, (_, chunk) => {
        const { start, end } = chunkRange(total, chunks, chunk);
        const values = count > 0 ? (gradient as Float32Array).subarray(start, end) : undefined;
        const header: PsHeader = {
          ...this.header(shard, step, count, chunk, chunks, total, start),
          ...(batch ? { batch } : {}),
        };
        return this.request(subject, wantParams ? { ...header, withParams: true } : header, values);
      }),
    );
    let heldMs = 0;
    let last = replies[0] as Reply;
    for (const reply of replies) {
      const held = reply.header.heldMs ?? 0;
      if (held >= heldMs) {
        heldMs = held;
        last = reply;
      }
    }
    const ack: PushReply = { step: last.header.step, updateCount: last.header.count, heldMs };
    if (wantParams) ack.params = this.assemble(replies, total, chunks);
    if (replies.some((reply) => reply.header.duplicate === true)) ack.duplicate = true;
    return ack;
  }

  private assemble(replies: readonly Reply[], total: number, chunks: number): Float32Array {
    if (chunks === 1) return this.checked(replies[0] as Reply, 0, total).values;
    const values = new Float32Array(total);
    replies.forEach((reply, chunk) => {
      const { start, end } = chunkRange(total, chunks, chunk);
      values.set(this.checked(reply, start, end - start).values, start);
    });
    return values;
  }

  private header(
    shard: number,
    step: number,
    count: number,
    chunk: number,
    chunks: number,
    total: number,
    offset = 0,
  ): PsHeader {
    return { token: this.options.token, shard, step, count, chunk, chunks, offset, total };
  }

  /**
   * Sends until a reply comes. Asking again is safe: no responder means nothing was delivered
   * (a shard starting, restoring, being replaced), and a shard recognises a re-sent push (its
   * step is behind the worker's acknowledged position, or joins the one collected) and applies
   * it once; a lost reply (shard died, NATS restarted) or a long sync barrier just asks again.
   */
  private async request(subject: string, header: PsHeader, values?: Float32Array): Promise<Reply> {
    const data = encodePsMessage(header, values, this.buffers.take);
    const giveUpAt = performance.now() + this.unavailableMs;
    const { nc, signal } = this.options;
    for (let attempt = 0; ; attempt += 1) {
      if (signal?.aborted) {
        throw new DlnError(ErrorCode.Unavailable, `stopped while asking ps shard ${header.shard}`, {
          retryable: true,
        });
      }
      const sentAt = performance.now();
      try {
        const asked = nc.request(subject, data, { timeout: this.timeoutMs });
        // A request sent just before NATS restarted got lost with its server: no need to wait
        // out its timeout. Told to stop: leave at once, not after the timeout (the slot is wanted).
        const raced = this.reconnects.race(asked);
        const reply = signal ? await untilAborted(raced, signal) : await raced;
        if (reply === RECONNECTED) {
          asked.catch(() => undefined);
          continue;
        }
        const raw = reply.data;
        this.stats.requests += 1;
        this.stats.bytesOut += data.byteLength;
        this.stats.bytesIn += raw.byteLength;
        // Answered: the NATS client copied the request out before sending it.
        this.buffers.release(data);
        return decodePsMessage(raw);
      } catch (cause) {
        if (cause instanceof DlnError) throw cause;
        if (cause instanceof StoppedError) continue;
        const text = cause instanceof Error ? cause.message : String(cause);
        const noResponders =
          /no responders/i.test(text) || (cause as { code?: string }).code === '503';
        if (!nc.isClosed() && performance.now() < giveUpAt) {
          // A quick failure (no responder, disconnected) backs off; a timeout already waited.
          if (performance.now() - sentAt < Math.min(1000, this.timeoutMs))
            await new Promise((resolve) => setTimeout(resolve, Math.min(500, 10 * 2 ** attempt)));
          continue;
        }
        throw new DlnError(
          noResponders ? ErrorCode.Unavailable : ErrorCode.Timeout,
          `ps shard ${header.shard}: ${noResponders ? 'no shard answers on' : 'no answer in time on'} ${subject}`,
          { retryable: true, cause },
        );
      }
    }
  }

  private checked(reply: Reply, offset: number, length: number): Reply {
    if (reply.header.offset !== offset || reply.values.length !== length) {
      throw new DlnError(
        ErrorCode.Internal,
        `ps reply has ${reply.values.length} values at ${reply.header.offset}, expected ${length} at ${offset}`,
        { retryable: true },
      );
    }
    return reply;
  }

  private sizeOf(shard: number): number {
    const size = this.options.shardSizes[shard];
    if (size === undefined)
      throw new DlnError(ErrorCode.InvalidRequest, `shard ${shard} does not exist`);
    return size;
  }
}

type Reply = ReturnType<typeof decodePsMessage>;
