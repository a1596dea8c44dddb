import { Subjects } from '@dln/contracts';
import { ensureStream, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

export interface PredictionsStreamLimits {
  maxAgeSeconds: number;
  /** 0: unlimited. */
  maxBytes: number;
  replicas: number;
  duplicateWindowSeconds: number;
}

/**
 * Creates (or updates) a model's predictions stream: limits retention (downstream consumers
 * replay within it), oldest discarded first, and the duplicate window that makes a re-scored
 * record's copy a no-op.
 */
export async function ensurePredictionsStream(
  nc: NatsConnection,
  subjects: Subjects,
  model: string,
  limits: PredictionsStreamLimits,
): Promise<string> {
  const name = subjects.predictionsStream(model);
  await ensureStream(await jetStreamManagerOf(nc), {
    name,
    subjects: [subjects.predictions(model)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: limits.replicas,
    max_age: nanos(limits.maxAgeSeconds * 1000),
    max_bytes: limits.maxBytes > 0 ? limits.maxBytes : -1,
    // JetStream refuses a duplicate window longer than the stream's max age.
    duplicate_window: nanos(Math.min(limits.duplicateWindowSeconds, limits.maxAgeSeconds) * 1000),
  });
  return name;
}
