import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

export const featureEnvSchema = baseEnvSchema
  .extend(databaseEnvSchema.shape)
  .extend({
    PORT: portSchema.default(3002),
    /** JetStream publishes kept in flight while materializing (PERFORMANCE.md: 256 ≈ 6x awaiting each). */
    MATERIALIZE_IN_FLIGHT: z.coerce.number().int().min(1).max(65_536).default(256),
    /** A progress log line (and GET progress update) every this many records. */
    PROGRESS_EVERY: z.coerce.number().int().min(1).max(10_000_000).default(5_000),
    /** Replicas of each examples stream (3 on a NATS cluster). */
    EXAMPLES_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
    /** How long to wait for ingest to describe a source. */
    SOURCE_DESCRIBE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
    /** This instance runs the stream partitions p with p % STREAM_GROUP_COUNT == STREAM_GROUP_INDEX. */
    STREAM_GROUP_INDEX: z.coerce.number().int().min(0).max(63).default(0),
    STREAM_GROUP_COUNT: z.coerce.number().int().min(1).max(64).default(1),
    /** How often a running stream pipeline checkpoints (and acks its input, refreshes serving state). */
    STREAM_CHECKPOINT_MS: z.coerce.number().int().min(50).max(600_000).default(1_000),
    /** Unacknowledged raw messages per partition consumer (they are acked at checkpoints). */
    STREAM_MAX_ACK_PENDING: z.coerce.number().int().min(100).max(10_000_000).default(50_000),
    /** Redelivery delay of unacknowledged raw messages; far above the checkpoint interval. */
    STREAM_ACK_WAIT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
    /** De-duplication window of stream examples: must cover a restart plus a checkpoint interval. */
    STREAM_EXAMPLES_DUPLICATE_WINDOW_MS: z.coerce
      .number()
      .int()
      .min(1_000)
      .max(7 * 86_400_000)
      .default(600_000),
    /** How often the instance looks for stream pipelines to start or stop. */
    STREAM_RECONCILE_MS: z.coerce.number().int().min(100).max(600_000).default(2_000),
    /** Replicas of the features KV bucket (3 on a NATS cluster). */
    FEATURES_KV_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  })
  .refine((c) => c.STREAM_GROUP_INDEX < c.STREAM_GROUP_COUNT, {
    message: 'must be below STREAM_GROUP_COUNT',
    path: ['STREAM_GROUP_INDEX'],
  });
export type FeatureConfig = z.infer<typeof featureEnvSchema>;

export function loadFeatureConfig(env: Record<string, string | undefined>): FeatureConfig {
  return loadConfig(featureEnvSchema, env);
}
