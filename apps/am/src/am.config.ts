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
  /** After an AM start, reloaded nodes get this long on top of the loss timeout to be heard from. */
  NODE_RESTORE_GRACE_MS: millis(0, 600_000).default(5_000),
  /** How often SCHEDULING jobs are retried and running roles' nodes checked. */
  JOB_SCHEDULING_INTERVAL_MS: millis(10, 60_000).default(500),
  /** Timeout of a pipeline describe request to the feature service. */
  PIPELINE_DESCRIBE_TIMEOUT_MS: millis(100, 600_000).default(10_000),
  /** Timeout of a pipeline prepare request (fit + materialize). */
  PIPELINE_PREPARE_TIMEOUT_MS: millis(1000, 86_400_000).default(3_600_000),
  /** At most one progress event per job per this interval. */
  JOB_PROGRESS_EVENT_MS: millis(0, 600_000).default(1000),
  /** Grace between SIGTERM and SIGKILL when the AM stops a role. */
  ROLE_STOP_GRACE_MS: millis(0, 600_000).default(10_000),
  /** How long a finished worker 0's export report may take to arrive. */
  EXPORT_GRACE_MS: millis(0, 600_000).default(5_000),
});
export type AmConfig = z.infer<typeof amEnvSchema>;

export function loadAmConfig(env: Record<string, string | undefined>): AmConfig {
  return loadConfig(amEnvSchema, env);
}
