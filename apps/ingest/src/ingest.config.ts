import { SourceLimits } from '@dln/contracts';
import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

export const ingestEnvSchema = baseEnvSchema.extend(databaseEnvSchema.shape).extend({
  PORT: portSchema.default(3001),
  /** Largest REST body (bytes); a larger one is refused with 413 before any record is stored. */
  INGEST_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(SourceLimits.defaultMaxBodyBytes),
  /** JetStream publishes in flight, shared by all requests (PERFORMANCE.md: 256 ≈ 6x awaiting each). */
  INGEST_PUBLISH_IN_FLIGHT: z.coerce.number().int().min(1).max(65_536).default(256),
  /** Replicas of each raw stream (3 on a NATS cluster). */
  RAW_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** How long (ms) a replica trusts its cached source declarations; 0 = always read the database. */
  SOURCE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
});
export type IngestConfig = z.infer<typeof ingestEnvSchema>;

export function loadIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  return loadConfig(ingestEnvSchema, env);
}
