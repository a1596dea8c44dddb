import {
  decodeExample,
  Example,
  OutputSchema,
  StreamExampleHeader,
  StreamJobSettings,
  Subjects,
} from '@dln/contracts';
import { batchFromExamples } from '@dln/ml';
import { StreamDelivery, StreamFetch, StreamSource } from '@dln/training';
import {
  AckPolicy,
  Consumer,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/**
 * Creates a stream job's shared durable pull consumer on its pipeline's examples stream, unless
 * it exists (a restarted or replaced role, a new generation: the position is the consumer's).
 * `maxAckPending` bounds the messages out with the workers: the backpressure of the job.
 */
export async function ensureStreamJobConsumer(
  nc: NatsConnection,
  subjects: Subjects,
  options: {
    pipeline: string;
    consumer: string;
    settings: StreamJobSettings;
    maxAckPending: number;
  },
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const stream = subjects.streamExamplesStream(options.pipeline);
  try {
    await jsm.consumers.info(stream, options.consumer);
    return;
  } catch (error) {
    if (!/not found/i.test(String((error as Error).message))) throw error;
  }
  await jsm.consumers.add(stream, {
    durable_name: options.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.settings.ackWaitSeconds * 1000),
    deliver_policy: options.settings.startAt === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: subjects.streamExamples(options.pipeline),
    max_ack_pending: options.maxAckPending,
    max_waiting: 512,
  });
}

/** Removes a stream job's consumer (the job ended); absent is fine. */
export async function deleteStreamJobConsumer(
  nc: NatsConnection,
  subjects: Subjects,
  pipeline: string,
  consumer: string,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.delete(subjects.streamExamplesStream(pipeline), consumer);
  } catch (error) {
    if (!/not found/i.test(String((error as Error).message))) throw error;
  }
}

export interface NatsStreamSourceOptions {
  nc: NatsConnection;
  subjects: Subjects;
  pipeline: string;
  consumer: string;
  schema: OutputSchema;
  /** Longest wait of one fetch for a full batch (JetStream: at least 1 s). */
  fetchWaitMs: number;
  /** An undecodable message (acknowledged, recorded by the shards, never trained on). */
  onRejected?: (seq: number, reason: string) => void;
}

/**
 * A worker's side of the shared consumer: each fetch asks for at most `max` messages and waits
 * until they came or the wait ran out, so a slow worker only takes what it trains on next;
 * messages stay unacknowledged (held here) until `ack`.
 */
export class NatsStreamSource implements StreamSource {
  private readonly held = new Map<number, JsMsg>();
  private consumer: Consumer | undefined;

  constructor(private readonly options: NatsStreamSourceOptions) {}

  async fetch(max: number, signal: AbortSignal): Promise<StreamFetch> {
    const { nc, subjects, pipeline } = this.options;
    this.consumer ??= await jetstream(nc).consumers.get(
      subjects.streamExamplesStream(pipeline),
      this.options.consumer,
    );
    const messages = await this.consumer.fetch({
      max_messages: max,
      expires: Math.max(1000, this.options.fetchWaitMs),
    });
    const stop = (): void => messages.stop();
    signal.addEventListener('abort', stop, { once: true });
    const deliveries: StreamDelivery[] = [];
    const examples: Example[] = [];
    try {
      for await (const message of messages) {
        this.held.set(message.seq, message);
        const version = Number(message.headers?.get(StreamExampleHeader.snapshotVersion) ?? '');
        const example = this.decode(message);
        if (example) examples.push(example);
        deliveries.push({
          seq: message.seq,
          redelivered: message.info.redelivered,
          row: example ? examples.length - 1 : null,
          snapshotVersion: Number.isSafeInteger(version) && version > 0 ? version : null,
        });
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    return { deliveries, batch: batchFromExamples(examples, this.options.schema) };
  }

  async ack(seqs: readonly number[]): Promise<void> {
    for (const seq of seqs) {
      this.held.get(seq)?.ack();
      this.held.delete(seq);
    }
    await this.options.nc.flush();
  }

  private decode(message: JsMsg): Example | null {
    try {
      const example = decodeExample(message.data);
      batchFromExamples([example], this.options.schema);
      return example;
    } catch (error) {
      this.options.onRejected?.(
        message.seq,
        error instanceof Error ? error.message : String(error),
      );
      return null;
    }
  }
}
