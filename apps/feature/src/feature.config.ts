import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

export const featureEnvSchema = baseEnvSchema.extend(databaseEnvSchema.shape).extend({
  PORT: portSchema.default(3002),
  /** JetStream publishes kept in flight while materializing (PERFORMANCE.md: 256 ≈ 6x awaiting each). */
  MATERIALIZE_IN_FLIGHT: z.coerce.number().int().min(1).max(65_536).default(256),
  /** A progress log line (and GET progress update) every this many records. */
  PROGRESS_EVERY: z.coerce.number().int().min(1).max(10_000_000).default(5_000),
  /** Replicas of each examples stream (3 on a NATS cluster). */
  EXAMPLES_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** How long to wait for ingest to describe a source. */
  SOURCE_DESCRIBE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
});
export type FeatureConfig = z.infer<typeof featureEnvSchema>;

export function loadFeatureConfig(env: Record<string, string | undefined>): FeatureConfig {
  return loadConfig(featureEnvSchema, env);
}
