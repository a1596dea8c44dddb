import { z } from 'zod';
import {
  DlnError,
  ErrorCode,
  fencingTokenSchema,
  parseInput,
  resourceName,
  RoleConfig,
  roleConfigSchema,
  Subjects,
} from '@dln/contracts';
import { natsReportSink } from '../role-links';
import { BackendName, selectBackend } from '@dln/ml';
import type { NatsConnection } from '@nats-io/transport-node';

/** A structured log line writer (JSON lines on stdout in role processes). */
export type RoleLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** What a role runner gets from its process: one NATS connection, a stop signal, readiness. */
export interface RoleRuntime {
  nc: NatsConnection;
  signal: AbortSignal;
  ready(): void;
  log: RoleLog;
  /** Force a TensorFlow.js backend (default: the fastest present). */
  backend?: BackendName;
}

/** Validates the config handed over by the node as the job's RoleConfig of the expected kind. */
export function parseRoleConfig(raw: unknown, kind: RoleConfig['kind']): RoleConfig {
  const config = parseInput(roleConfigSchema, raw, 'role config');
  if (config.kind !== kind)
    throw new DlnError('INVALID_REQUEST', `a ${kind} role got the config of a ${config.kind} role`);
  if (config.token.role !== `${kind}-${config.index}`) {
    throw new DlnError(
      'INVALID_REQUEST',
      `role config of ${kind} ${config.index} carries the token of ${config.token.role}`,
    );
  }
  const limit = kind === 'ps' ? config.shards : config.workers;
  if (config.index >= limit)
    throw new DlnError(
      'INVALID_REQUEST',
      `${kind} index ${config.index} is outside the job's ${limit}`,
    );
  if (config.parameters.shardSizes.length !== config.shards) {
    throw new DlnError(
      'INVALID_REQUEST',
      `the layout has ${config.parameters.shardSizes.length} shards, the job ${config.shards}`,
    );
  }
  return config;
}

/** Starts TensorFlow.js on the fastest backend present (or the forced one) and logs it. */
export async function startBackend(runtime: RoleRuntime): Promise<BackendName> {
  return selectBackend(
    { log: (msg) => runtime.log('info', msg), warn: (msg) => runtime.log('warn', msg) },
    runtime.backend ? { force: runtime.backend } : {},
  );
}

/** Resolves when the signal is aborted. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

const failureAddress = z.object({ token: fencingTokenSchema, subjectRoot: resourceName });

/** A refusal by fencing: this incarnation is superseded (a newer attempt or generation runs). */
export function isFenced(error: unknown): boolean {
  return error instanceof DlnError && error.code === ErrorCode.Fenced;
}

/**
 * Runs a role body; a FENCED error (the role is superseded) ends it quietly. On another error
 * it reports `failed` to the AM (flushing NATS so the report leaves
 * before the process exits) and rethrows, so the role process exits non-zero.
 */
export async function reportingFailure(
  runtime: RoleRuntime,
  raw: unknown,
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    if (isFenced(error)) {
      // Superseded: it stops as told and says nothing, the AM has moved on to its replacement.
      runtime.log('warn', 'role superseded, stopped', { reason });
      return;
    }
    const address = failureAddress.safeParse(raw);
    if (address.success && !runtime.nc.isClosed()) {
      const { token, subjectRoot } = address.data;
      const report = natsReportSink(runtime.nc, new Subjects(subjectRoot), token.jobId);
      report({
        type: 'failed',
        token,
        reason,
        retryable: error instanceof DlnError && error.retryable,
      });
      await runtime.nc.flush().catch(() => undefined);
    }
    runtime.log('error', 'role failed', { error: reason });
    throw error;
  }
}
