import { Subjects } from '@dln/contracts';
import { DiscardPolicy, RetentionPolicy, StorageType, StreamConfig } from '@nats-io/jetstream';
import { nanos, NatsConnection } from '@nats-io/transport-node';
import { ensureStream, isNotFound, jetStreamManagerOf } from './jetstream';

export interface PredictionsStreamLimits {
  maxAgeSeconds: number;
  /** 0: unlimited. */
  maxBytes: number;
  replicas: number;
  duplicateWindowSeconds: number;
}

/** The prediction service's defaults (its PREDICTIONS_* settings), for writers without them. */
export const PREDICTIONS_STREAM_DEFAULTS: PredictionsStreamLimits = {
  maxAgeSeconds: 7 * 86_400,
  maxBytes: 0,
  replicas: 1,
  duplicateWindowSeconds: 600,
};

function predictionsStreamConfig(
  subjects: Subjects,
  model: string,
  limits: PredictionsStreamLimits,
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  return {
    name: subjects.predictionsStream(model),
    subjects: [subjects.predictions(model)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: limits.replicas,
    max_age: nanos(limits.maxAgeSeconds * 1000),
    max_bytes: limits.maxBytes > 0 ? limits.maxBytes : -1,
    // JetStream refuses a duplicate window longer than the stream's max age.
    duplicate_window: nanos(Math.min(limits.duplicateWindowSeconds, limits.maxAgeSeconds) * 1000),
  };
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
  const config = predictionsStreamConfig(subjects, model, limits);
  await ensureStream(await jetStreamManagerOf(nc), config);
  return config.name;
}

/**
 * Creates a model's predictions stream when there is none, and otherwise leaves it as its owner
 * (the prediction service) configured it. Returns its duplicate window in seconds.
 */
export async function predictionsStreamOrCreate(
  nc: NatsConnection,
  subjects: Subjects,
  model: string,
  limits: PredictionsStreamLimits = PREDICTIONS_STREAM_DEFAULTS,
): Promise<number> {
  const jsm = await jetStreamManagerOf(nc);
  const config = predictionsStreamConfig(subjects, model, limits);
  try {
    const info = await jsm.streams.info(config.name);
    return info.config.duplicate_window / 1e9;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Created by someone else in between: theirs stands.
    const info = await jsm.streams.info(config.name).catch(() => {
      throw error;
    });
    return info.config.duplicate_window / 1e9;
  }
  return (config.duplicate_window ?? 0) / 1e9;
}
