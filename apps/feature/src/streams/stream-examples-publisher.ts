import { RecordHeader, StreamExampleHeader, Subjects } from '@dln/contracts';
import type { StreamExample } from '@dln/features';
import {
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  NatsConnection,
  natsHeaders,
  PublishWindow,
  type PublishBatch,
} from '@dln/messaging';
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

/** Creates (or updates) a stream pipeline's examples stream with its de-duplication window. */
export async function ensureStreamExamples(
  nc: NatsConnection,
  subjects: Subjects,
  pipeline: string,
  options: { replicas: number; duplicateWindowMs: number },
): Promise<string> {
  const name = subjects.streamExamplesStream(pipeline);
  await ensureStream(await jetStreamManagerOf(nc), {
    name,
    subjects: [subjects.streamExamples(pipeline)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas,
    duplicate_window: nanos(options.duplicateWindowMs),
  });
  return name;
}

/**
 * Publishes a stream's examples with many acks in flight. `enqueue` never waits, so a caller can
 * hand over every example of one state transition at once; `room` waits while too many are in
 * flight; `flush` waits for every ack so far. The msg id `<pipeline>:<event id>` makes a replay
 * after a restart a no-op within the stream's duplicate window.
 */
export class StreamExamplesPublisher {
  private readonly batch: PublishBatch;
  private readonly subject: string;

  constructor(
    nc: NatsConnection,
    subjects: Subjects,
    private readonly pipeline: string,
    inFlight: number,
  ) {
    this.batch = new PublishWindow(jetStreamOf(nc), inFlight).batch();
    this.subject = subjects.streamExamples(pipeline);
  }

  get stored(): number {
    return this.batch.outcome.stored;
  }

  get duplicates(): number {
    return this.batch.outcome.duplicates;
  }

  enqueue(example: StreamExample): void {
    const headers = natsHeaders();
    headers.set(RecordHeader.recordId, example.eventId);
    headers.set(StreamExampleHeader.snapshotVersion, String(example.snapshotVersion));
    headers.set(StreamExampleHeader.eventTime, String(example.time));
    this.batch.send({
      subject: this.subject,
      data: example.bytes,
      msgID: `${this.pipeline}:${example.eventId}`,
      headers,
    });
  }

  /** Resolves once fewer than `inFlight` publishes are outstanding; throws a publish failure. */
  room(): Promise<void> {
    return this.batch.room();
  }

  /** Waits for every ack so far; throws a publish failure. */
  async flush(): Promise<void> {
    await this.batch.flush();
  }
}
