import { RecordHeader, Subjects } from '@dln/contracts';
import type { MaterializedExample } from '@dln/features';
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
  type PubAck,
} from '@nats-io/jetstream';

/**
 * Creates the pipeline's examples stream (every version and split) if needed, and removes the
 * examples of `version` already in it, so a re-materialization leaves exactly one per record.
 */
export async function prepareExamplesStream(
  nc: NatsConnection,
  subjects: Subjects,
  pipeline: string,
  version: number,
  replicas: number,
): Promise<string> {
  const jsm = await jetStreamManagerOf(nc);
  const name = subjects.examplesStream(pipeline);
  await ensureStream(jsm, {
    name,
    subjects: [subjects.examplesEveryVersion(pipeline)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
  });
  await jsm.streams.purge(name, { filter: subjects.examplesAll(pipeline, version) });
  return name;
}

/**
 * Publishes examples with many acks in flight; counts stored examples per split. Waiting for a
 * free slot is one promise per wait, not a race over every pending publish.
 */
export class ExamplesPublisher {
  readonly counts = { train: 0, validation: 0, duplicates: 0 };
  private readonly js: JetStreamClient;
  private pending = 0;
  private slotFreed: (() => void) | undefined;
  private drained: (() => void) | undefined;
  private failure: unknown;

  constructor(
    nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly pipeline: string,
    private readonly version: number,
    private readonly inFlight: number,
  ) {
    this.js = jetStreamOf(nc);
  }

  /** Sends one example; waits only when `inFlight` acks are outstanding. */
  async publish(example: MaterializedExample): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const subject = this.subjects.examples(this.pipeline, this.version, example.split);
    this.pending += 1;
    const headers = natsHeaders();
    headers.set(RecordHeader.recordId, example.recordId);
    this.js.publish(subject, example.bytes, { msgID: example.msgId, headers }).then(
      (ack: PubAck) => {
        if (ack.duplicate) this.counts.duplicates += 1;
        else this.counts[example.split] += 1;
        this.settle();
      },
      (err: unknown) => {
        this.failure ??= err;
        this.settle();
      },
    );
    if (this.pending >= this.inFlight)
      await new Promise<void>((resolve) => (this.slotFreed = resolve));
  }

  /** Waits for every ack; throws the first publish failure. */
  async flush(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    if (this.failure !== undefined) throw this.failure;
  }

  private settle(): void {
    this.pending -= 1;
    const freed = this.slotFreed;
    this.slotFreed = undefined;
    freed?.();
    if (this.pending === 0) {
      const drained = this.drained;
      this.drained = undefined;
      drained?.();
    }
  }
}
