import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { hostname } from 'node:os';
import { z } from 'zod';

const millis = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const amEnvSchema = baseEnvSchema.extend(databaseEnvSchema.shape).extend({
  PORT: portSchema.default(3000),
  /** This AM's name in the lease and in 503 answers (default hostname-pid). */
  AM_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'must be 1-128 of A-Z a-z 0-9 . _ : -' })
    .default(() => `${hostname()}-${process.pid}`),
  /** Lease length with PostgreSQL (a standby takes over this long after the active stops renewing). */
  AM_LEASE_MS: millis(300, 600_000).default(5_000),
  /** Where clients reach this AM's REST API; a standby names it in its 503 answers. */
  AM_ADVERTISED_URL: z.string().url({ message: 'must be a URL' }).optional(),
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
  /** Stop commands to a live node are tried this many times before the orphan sweep takes over. */
  ROLE_STOP_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /** Base wait between stop attempts (times the attempt number). */
  ROLE_STOP_RETRY_MS: millis(10, 60_000).default(500),
  /** A process no active job wants is stopped once its node has reported it this long. */
  ORPHAN_ROLE_GRACE_MS: millis(0, 600_000).default(5_000),
  /** A live role missing from its node's heartbeats this long is lost (the node restarted without it). */
  ROLE_MISSING_GRACE_MS: millis(100, 600_000).default(3_000),
});
export type AmConfig = z.infer<typeof amEnvSchema>;

export function loadAmConfig(env: Record<string, string | undefined>): AmConfig {
  return loadConfig(amEnvSchema, env);
}
