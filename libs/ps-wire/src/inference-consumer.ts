import { InferenceInput, InferenceJobSettings, isStreamInput, Subjects } from '@dln/contracts';
import {
  AckPolicy,
  Consumer,
  DeliverPolicy,
  jetstream,
  JetStreamManager,
  jetstreamManager,
  JsMsg,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/** Where an inference job reads, and whether that input ends. */
export interface InferenceInputStream {
  stream: string;
  filter: string;
  /** Materialized examples end; a raw stream does not. */
  bounded: boolean;
  deliver: DeliverPolicy;
}

/**
 * An inference job's input: the examples stream of the pinned pipeline version (both splits), or
 * every partition of a source's raw stream.
 */
export function inferenceInputOf(
  subjects: Subjects,
  input: InferenceInput,
  pinned: { pipeline: string; version: number },
): InferenceInputStream {
  if (isStreamInput(input))
    return {
      stream: subjects.rawStream(input.source),
      filter: subjects.rawAll(input.source),
      bounded: false,
      deliver: input.startAt === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    };
  return {
    stream: subjects.examplesStream(pinned.pipeline),
    filter: subjects.examplesAll(pinned.pipeline, pinned.version),
    bounded: true,
    deliver: DeliverPolicy.All,
  };
}

/**
 * Creates an inference job's shared durable pull consumer on its input, unless it exists (an AM
 * restart, a replaced role: the position is the consumer's). Explicit acks, redelivery after the
 * job's ack wait; `maxAckPending` bounds what is out with the workers.
 */
export async function ensureInferenceConsumer(
  nc: NatsConnection,
  options: {
    input: InferenceInputStream;
    consumer: string;
    settings: Pick<InferenceJobSettings, 'ackWaitSeconds'>;
    maxAckPending: number;
  },
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const { stream, filter, deliver } = options.input;
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
    deliver_policy: deliver,
    filter_subject: filter,
    max_ack_pending: options.maxAckPending,
    max_deliver: -1,
    max_waiting: 512,
  });
}

/** Removes an inference job's consumer (the job ended); absent is fine. */
export async function deleteInferenceConsumer(
  nc: NatsConnection,
  input: InferenceInputStream,
  consumer: string,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.delete(input.stream, consumer);
  } catch (error) {
    if (!/not found/i.test(String((error as Error).message))) throw error;
  }
}

/**
 * A worker's side of the job's consumer: a fetch asks for at most `max` messages and waits until
 * they came or the wait ran out; the messages stay unacknowledged until `ack` (after their scores'
 * PubAcks). `drained` tells the bounded input's end: nothing left to deliver, nothing out.
 */
export class InferenceReader {
  private consumer: Consumer | undefined;
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly durable: string,
    private readonly fetchWaitMs: number,
  ) {}

  async fetch(max: number, signal: AbortSignal): Promise<JsMsg[]> {
    this.consumer ??= await jetstream(this.nc).consumers.get(this.stream, this.durable);
    const messages = await this.consumer.fetch({
      max_messages: max,
      expires: Math.max(1000, this.fetchWaitMs),
    });
    const stop = (): void => messages.stop();
    signal.addEventListener('abort', stop, { once: true });
    const out: JsMsg[] = [];
    try {
      for await (const message of messages) out.push(message);
    } finally {
      signal.removeEventListener('abort', stop);
    }
    return out;
  }

  /** Acknowledges (sent in order with what follows; `drained` makes sure the server has them). */
  ack(messages: readonly JsMsg[]): void {
    for (const message of messages) message.ack();
  }

  /** Hands messages back for redelivery at once (a stop before their scores were published). */
  nak(messages: readonly JsMsg[]): void {
    for (const message of messages) message.nak();
  }

  async drained(): Promise<boolean> {
    // Our own acks must have reached the server before it counts what is still out.
    await this.nc.flush();
    this.jsm ??= await jetstreamManager(this.nc);
    const info = await this.jsm.consumers.info(this.stream, this.durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }
}
