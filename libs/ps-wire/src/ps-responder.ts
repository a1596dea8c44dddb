import { DlnError, ErrorCode, PsHeader, Subjects } from '@dln/contracts';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { FencedError, PsShard, PushAck, StreamBatches } from '@dln/training';
import { ReplyPool } from './message-pool';
import { chunkRange, decodePsMessage, encodePsError, encodePsMessage } from './ps-codec';

export interface PsResponderOptions {
  nc: NatsConnection;
  subjects: Subjects;
  jobId: string;
  shardIndex: number;
  shard: PsShard;
  /** Called for every request that ended in an error (after the error reply). */
  onError?: (error: unknown, subject: string) => void;
  /** A request of a newer generation arrived: this shard is superseded (its role stops). */
  onSuperseded?: (error: FencedError) => void;
}

/** The subscriptions of one shard; `close` drains them. */
export interface PsResponder {
  close(): Promise<void>;
}

/** A push's ack; `duplicate` for a stream batch applied before (PsHeader.batch). */
type Ack = PushAck & { duplicate?: boolean };

interface Assembly {
  values: Float32Array;
  received: Set<number>;
  /** Settles once the whole push is applied (chunks that want parameters wait for it). */
  done: Promise<Ack>;
  settle(ack: Promise<Ack>): void;
}

function newAssembly(total: number): Assembly {
  let settle: (ack: Promise<Ack>) => void = () => undefined;
  const done = new Promise<Ack>((resolve) => (settle = resolve));
  // Observed by every waiting chunk; a rejection without waiters must not crash the process.
  done.catch(() => undefined);
  return { values: new Float32Array(total), received: new Set(), done, settle };
}

/** Partial chunked pushes kept at most (a worker that died mid-push leaves one behind). */
const MAX_ASSEMBLIES = 256;

/**
 * Serves one PsShard on its pull and push subjects: binary request/reply (PsHeader + raw
 * float32), chunked pulls answered chunk by chunk, chunked pushes reassembled before the shard
 * sees them. A request of a newer generation gets no answer: this shard is superseded and the
 * newer incarnation answers it.
 */
export function servePsShard(options: PsResponderOptions): PsResponder {
  const { nc, subjects, jobId, shardIndex, shard } = options;
  const assemblies = new Map<string, Assembly>();
  // Stream pushes name their batch by its stream sequences: applied once, whoever sends it again.
  const batches = new StreamBatches(shard);
  const pushTo = (header: PsHeader, values: Float32Array | null): Promise<Ack> =>
    header.batch
      ? batches.push(header.token, header.step, header.count, values, header.batch)
      : shard.push(header.token, header.step, header.count, values);

  const reply = (msg: Msg, data: Uint8Array): void => {
    if (msg.reply) msg.respond(data);
  };
  const replies = new ReplyPool(() => nc.flush());
  /** A reply carrying values (hundreds of KB): encoded into a reused buffer. */
  const replyWithValues = (msg: Msg, header: PsHeader, values: Float32Array): void => {
    if (!msg.reply) return;
    const data = encodePsMessage(header, values, replies.take);
    msg.respond(data);
    replies.sent(data);
  };
  const fail = (msg: Msg, error: unknown): void => {
    if (error instanceof FencedError && error.receiverSuperseded) options.onSuperseded?.(error);
    else reply(msg, encodePsError(error));
    options.onError?.(error, msg.subject);
  };
  const checkHeader = (header: PsHeader): void => {
    if (header.shard !== shardIndex) {
      throw new DlnError(
        ErrorCode.InvalidRequest,
        `request for shard ${header.shard} reached shard ${shardIndex}`,
      );
    }
    if (header.total !== shard.size) {
      throw new DlnError(
        ErrorCode.InvalidRequest,
        `request for ${header.total} values, shard ${shardIndex} holds ${shard.size}`,
      );
    }
  };

  const onPull = async (msg: Msg): Promise<void> => {
    const { header } = decodePsMessage(msg.data);
    checkHeader(header);
    if (header.positionsOnly) {
      const positions = shard.positionsFor(header.token);
      const answer = { ...header, count: shard.updateCount, step: shard.step, positions };
      reply(msg, encodePsMessage(answer));
      return;
    }
    const params = await shard.pull(header.token, header.step);
    const { start, end } = chunkRange(shard.size, header.chunks, header.chunk);
    replyWithValues(msg, { ...header, count: 0, offset: start }, params.subarray(start, end));
  };

  const onPush = async (msg: Msg): Promise<void> => {
    const { header, values } = decodePsMessage(msg.data);
    checkHeader(header);
    let ack: Promise<Ack>;
    if (header.count > 0 && header.chunks > 1) {
      const assembly = collect(header, values);
      if (assembly.received.size === header.chunks) {
        assemblies.delete(assemblyKey(header));
        assembly.settle(pushTo(header, assembly.values));
      } else if (!header.withParams) {
        reply(msg, encodePsMessage({ ...header, heldMs: 0 }));
        return;
      }
      ack = assembly.done;
    } else {
      ack = pushTo(header, header.count > 0 ? values : null);
    }
    const { step, updateCount, heldMs, duplicate } = await ack;
    const answer: PsHeader = {
      ...header,
      step,
      count: updateCount,
      heldMs,
      ...(duplicate ? { duplicate } : {}),
    };
    if (!header.withParams) {
      reply(msg, encodePsMessage(answer));
      return;
    }
    // Read synchronously after the apply: the values are exactly those a pull of `step` returns.
    const params = await shard.pull(header.token, step);
    const { start, end } = chunkRange(shard.size, header.chunks, header.chunk);
    replyWithValues(msg, { ...answer, offset: start }, params.subarray(start, end));
  };

  const assemblyKey = (header: PsHeader): string =>
    `${header.token.role}/${header.token.attempt}/${header.step}/${header.count}`;

  /** Adds one chunk of a push to its assembly (the caller applies it once every chunk is in). */
  const collect = (header: PsHeader, values: Float32Array): Assembly => {
    const { start, end } = chunkRange(header.total, header.chunks, header.chunk);
    if (header.offset !== start || values.length !== end - start) {
      throw new DlnError(
        ErrorCode.InvalidRequest,
        `chunk ${header.chunk} of ${header.chunks} has ${values.length} values at ${header.offset}, expected ${end - start} at ${start}`,
      );
    }
    const key = assemblyKey(header);
    let assembly = assemblies.get(key);
    if (!assembly) {
      if (assemblies.size >= MAX_ASSEMBLIES)
        assemblies.delete(assemblies.keys().next().value as string);
      assembly = newAssembly(header.total);
      assemblies.set(key, assembly);
    }
    assembly.values.set(values, start);
    assembly.received.add(header.chunk);
    return assembly;
  };

  const serve = (subject: string, handler: (msg: Msg) => Promise<void>): Subscription =>
    nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) {
          options.onError?.(error, subject);
          return;
        }
        handler(msg).catch((cause: unknown) => fail(msg, cause));
      },
    });

  const subscriptions = [
    serve(subjects.psPull(jobId, shardIndex), onPull),
    serve(subjects.psPush(jobId, shardIndex), onPush),
  ];
  return {
    close: async () => {
      await Promise.all(subscriptions.map((subscription) => subscription.drain()));
    },
  };
}
