import { RecordHeader, Subjects } from '@dln/contracts';
import type { MaterializedExample } from '@dln/features';
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
 * Publishes a version's examples with many acks in flight, through one batch per split so the
 * stored examples are counted per split.
 */
export class ExamplesPublisher {
  private readonly splits: Record<MaterializedExample['split'], PublishBatch>;

  constructor(
    nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly pipeline: string,
    private readonly version: number,
    inFlight: number,
  ) {
    const window = new PublishWindow(jetStreamOf(nc), inFlight);
    this.splits = { train: window.batch(), validation: window.batch() };
  }

  /** Stored examples per split, and the examples the stream already had. */
  get counts(): { train: number; validation: number; duplicates: number } {
    const train = this.splits.train.outcome;
    const validation = this.splits.validation.outcome;
    return {
      train: train.stored,
      validation: validation.stored,
      duplicates: train.duplicates + validation.duplicates,
    };
  }

  /** Sends one example; waits only while `inFlight` acks are outstanding; throws once a publish failed. */
  async publish(example: MaterializedExample): Promise<void> {
    const { train, validation } = this.splits;
    if (train.hasFailed) throw train.failure;
    if (validation.hasFailed) throw validation.failure;
    const headers = natsHeaders();
    headers.set(RecordHeader.recordId, example.recordId);
    await this.splits[example.split].publish({
      subject: this.subjects.examples(this.pipeline, this.version, example.split),
      data: example.bytes,
      msgID: example.msgId,
      headers,
    });
  }

  /** Waits for every ack; throws the first publish failure. */
  async flush(): Promise<void> {
    const settled = await Promise.allSettled([
      this.splits.train.flush(),
      this.splits.validation.flush(),
    ]);
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
  }
}
