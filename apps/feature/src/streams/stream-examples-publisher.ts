import { RecordHeader, StreamExampleHeader, Subjects } from '@dln/contracts';
import type { StreamExample } from '@dln/features';
import {
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  NatsConnection,
  natsHeaders,
} from '@dln/messaging';
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
} from '@nats-io/jetstream';
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
  stored = 0;
  duplicates = 0;
  private readonly js: JetStreamClient;
  private readonly subject: string;
  private pending = 0;
  private waiters: (() => void)[] = [];
  private failure: unknown;

  constructor(
    nc: NatsConnection,
    subjects: Subjects,
    private readonly pipeline: string,
    private readonly inFlight: number,
  ) {
    this.js = jetStreamOf(nc);
    this.subject = subjects.streamExamples(pipeline);
  }

  enqueue(example: StreamExample): void {
    const headers = natsHeaders();
    headers.set(RecordHeader.recordId, example.eventId);
    headers.set(StreamExampleHeader.snapshotVersion, String(example.snapshotVersion));
    headers.set(StreamExampleHeader.eventTime, String(example.time));
    this.pending += 1;
    this.js
      .publish(this.subject, example.bytes, {
        msgID: `${this.pipeline}:${example.eventId}`,
        headers,
      })
      .then(
        (ack) => {
          if (ack.duplicate) this.duplicates += 1;
          else this.stored += 1;
          this.settle();
        },
        (err: unknown) => {
          this.failure ??= err;
          this.settle();
        },
      );
  }

  /** Resolves once fewer than `inFlight` publishes are outstanding; throws a publish failure. */
  async room(): Promise<void> {
    while (this.pending >= this.inFlight)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure !== undefined) throw this.failure;
  }

  async flush(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure !== undefined) throw this.failure;
  }

  private settle(): void {
    this.pending -= 1;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
