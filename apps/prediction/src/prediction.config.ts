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
  /** Versions per model kept loaded besides the default (newest first). */
  KEEP_VERSIONS: positive(2, 64),
  /** Wait between catalogue requests while the AM does not answer. */
  CATALOGUE_RETRY_MS: positive(1000, 60_000),
  /** TensorFlow.js backend; default: the fastest present. */
  TFJS_BACKEND: z.enum(['tensorflow', 'wasm', 'cpu']).optional(),
});
export type PredictionConfig = z.infer<typeof predictionEnvSchema>;

export function loadPredictionConfig(env: Record<string, string | undefined>): PredictionConfig {
  return loadConfig(predictionEnvSchema, env);
}
