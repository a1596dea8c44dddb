import { InferenceInput, InferenceJobSettings, isStreamInput, Subjects } from '@dln/contracts';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
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
