import { baseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

const positive = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const predictionEnvSchema = baseEnvSchema.extend({
  PORT: portSchema.default(3003),
  /** Largest predict body; larger ones get 413 before any parsing. */
  BODY_LIMIT_BYTES: positive(8 * 1024 * 1024, 256 * 1024 * 1024),
  /** Most instances one request may carry (413 above). */
  MAX_INSTANCES: positive(1024, 100_000),
  /** Most rows merged into one model call. */
  MAX_BATCH_ROWS: positive(2048, 100_000),
  /** Worker threads parsing large bodies (0: parse everything on the event loop). */
  PARSE_WORKERS: z.coerce.number().int().min(0).max(16).default(1),
  /** Bodies of at least this many bytes are parsed in a worker thread. */
  OFFLOAD_BYTES: positive(16 * 1024, 1 << 30),
  /** Read model artifacts in a worker thread with its own NATS connection (off the serving loop). */
  ARTIFACT_FETCH_THREAD: z.enum(['on', 'off']).default('on'),
  /** Versions per model kept loaded besides the default (newest first). */
  KEEP_VERSIONS: positive(2, 64),
  /** Wait between catalogue requests while the AM does not answer. */
  CATALOGUE_RETRY_MS: positive(1000, 60_000),
  /** Prediction topics: records per model call (records are pulled and scored in batches). */
  SCORER_BATCH: positive(256, 4096),
  /** Wait for more records before scoring a batch that is not full (0: the next event-loop turn). */
  SCORER_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(2),
  /** Batches one scorer scores and publishes at once on this instance. */
  SCORER_BATCHES_IN_FLIGHT: positive(4, 64),
  /** A delivered raw record not acknowledged within this time goes to another instance. */
  SCORER_ACK_WAIT_MS: positive(30_000, 3_600_000),
  /** Raw records delivered and not yet acknowledged, per scorer consumer, across instances. */
  SCORER_MAX_ACK_PENDING: positive(4096, 1_000_000),
  /** Wait before a record is redelivered when no version could score it. */
  SCORER_RETRY_MS: positive(1000, 60_000),
  /** Predictions streams: limits retention (age, bytes; 0 bytes: unlimited) and replicas. */
  PREDICTIONS_MAX_AGE_S: positive(7 * 86_400, 366 * 86_400),
  PREDICTIONS_MAX_BYTES: z.coerce.number().int().min(0).default(0),
  PREDICTIONS_REPLICAS: positive(1, 5),
  /** De-duplication horizon of a predictions stream (one score per record within it). */
  PREDICTIONS_DUPLICATE_WINDOW_S: positive(600, 7 * 86_400),
  /** Stream models: wait for the feature service's per-key aggregates before answering 503. */
  AGGREGATES_TIMEOUT_MS: positive(2_000, 60_000),
  /** TensorFlow.js backend; default: the fastest present. */
  TFJS_BACKEND: z.enum(['tensorflow', 'wasm', 'cpu']).optional(),
});
export type PredictionConfig = z.infer<typeof predictionEnvSchema>;

export function loadPredictionConfig(env: Record<string, string | undefined>): PredictionConfig {
  return loadConfig(predictionEnvSchema, env);
}
