import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

const millis = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const amEnvSchema = baseEnvSchema.extend(databaseEnvSchema.shape).extend({
  PORT: portSchema.default(3000),
  /** Nodes heartbeat this often (they are told in the registration ack). */
  HEARTBEAT_INTERVAL_MS: millis(50, 60_000).default(1000),
  /** A node is LOST after this many missed heartbeats. */
  NODE_LOSS_AFTER_MISSED: z.coerce.number().int().min(1).max(100).default(3),
  /** How often the AM looks for silent nodes; at most 1 s, so loss is seen within 3 x interval + 1 s. */
  NODE_SWEEP_INTERVAL_MS: millis(10, 1000).default(250),
});
export type AmConfig = z.infer<typeof amEnvSchema>;

export function loadAmConfig(env: Record<string, string | undefined>): AmConfig {
  return loadConfig(amEnvSchema, env);
}
