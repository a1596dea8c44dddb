import { ROLE_GC_MODES, ROLE_SEMI_SPACE_MB } from '@dln/cluster';
import { NODE_LIMITS, NodeKind, resourceName } from '@dln/contracts';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { baseEnvSchema, portSchema } from '../config';
import type { NodeIdentity } from './node-types';

const millis = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Variables of the node services (worker, parameter-server). */
export const nodeEnvSchema = baseEnvSchema.extend({
  /** HTTP port of /health; 0 takes any free port (reported to the AM when registering). */
  PORT: portSchema.default(0),
  /** Stable node id; a fresh one per process when unset. */
  NODE_ID: resourceName.optional(),
  NODE_SLOTS: z.coerce.number().int().min(1).max(NODE_LIMITS.maxSlots).default(1),
  /** Host name the node reports (HOST is the address it binds to). */
  NODE_ADVERTISED_HOST: z.string().min(1).max(255).optional(),
  /** Heartbeat interval until the AM's registration ack sets it. */
  HEARTBEAT_INTERVAL_MS: millis(
    NODE_LIMITS.minHeartbeatIntervalMs,
    NODE_LIMITS.maxHeartbeatIntervalMs,
  ).default(1000),
  /** Between SIGTERM and SIGKILL when a role is stopped. */
  ROLE_STOP_GRACE_MS: millis(0, 600_000).default(10_000),
  /** Longest pause between attempts to reach the AM. */
  AM_RETRY_MAX_MS: millis(100, 60_000).default(5_000),
  AM_REQUEST_TIMEOUT_MS: millis(100, 60_000).default(2_000),
  /** Role processes write to the node's stdout/stderr (inherit) or nowhere (ignore). */
  ROLE_STDIO: z.enum(['inherit', 'ignore']).default('inherit'),
  /** V8 garbage collection in role processes; `auto`: single-threaded when NODE_SLOTS fill the cores. */
  ROLE_GC: z.enum(ROLE_GC_MODES).default('auto'),
  /** V8 young generation cap of role processes, MB per semi-space (0: V8's default). */
  ROLE_SEMI_SPACE_MB: z.coerce.number().int().min(0).max(1024).default(ROLE_SEMI_SPACE_MB),
});
export type NodeConfig = z.infer<typeof nodeEnvSchema>;

const random = (bytes: number): string => randomBytes(bytes).toString('hex');

/** `<kind>-<host>-<random>`, cut to fit the naming rule. */
export function generateNodeId(kind: NodeKind, host: string): string {
  const prefix = kind === 'parameter-server' ? 'ps' : 'worker';
  const cleanHost =
    host
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '-')
      .slice(0, 40) || 'host';
  return `${prefix}-${cleanHost}-${random(4)}`;
}

export function nodeIdentity(kind: NodeKind, config: NodeConfig, version: string): NodeIdentity {
  const host = config.NODE_ADVERTISED_HOST ?? hostname();
  return {
    nodeId: config.NODE_ID ?? generateNodeId(kind, host),
    incarnation: random(8),
    kind,
    slots: config.NODE_SLOTS,
    version,
    host,
  };
}
