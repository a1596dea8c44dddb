import { z } from 'zod';
import { fencingTokenSchema } from './fencing';
import { resourceName } from './names';

/** Bounds of a job's failover policy. */
export const FAILOVER_LIMITS = { maxAttempts: 100, maxBackoffMs: 600_000 } as const;

/** What the AM does when a role is lost (its node LOST, its process crashed, a retryable `failed`). */
export const FailoverPolicy = {
  /** Replace only the lost role (new attempt, same generation); in sync mode a lost ps shard rolls the whole job back. */
  RestartRole: 'restart-role',
  /** Restart every role from the last complete checkpoint under generation + 1. */
  RestartJob: 'restart-job',
} as const;
export type FailoverPolicy = (typeof FailoverPolicy)[keyof typeof FailoverPolicy];

export const FAILOVER_DEFAULTS = {
  policy: FailoverPolicy.RestartRole,
  maxAttempts: 3,
  backoffMs: 1000,
  maxBackoffMs: 30_000,
} as const;

/**
 * JobSpec.failover. `maxAttempts`: how many times one role may be restarted after a failure (its
 * next failure fails the job with that reason). The n-th restart of a role waits
 * `min(backoffMs * 2^(n-1), maxBackoffMs)`. A failure a retry cannot help (`retryable: false`)
 * fails the job at once whatever the policy.
 */
export const failoverSpecSchema = z.strictObject({
  policy: z
    .enum([FailoverPolicy.RestartRole, FailoverPolicy.RestartJob])
    .default(FAILOVER_DEFAULTS.policy),
  maxAttempts: z
    .number()
    .int()
    .min(0)
    .max(FAILOVER_LIMITS.maxAttempts)
    .default(FAILOVER_DEFAULTS.maxAttempts),
  backoffMs: z
    .number()
    .int()
    .min(0)
    .max(FAILOVER_LIMITS.maxBackoffMs)
    .default(FAILOVER_DEFAULTS.backoffMs),
  maxBackoffMs: z
    .number()
    .int()
    .min(0)
    .max(FAILOVER_LIMITS.maxBackoffMs)
    .default(FAILOVER_DEFAULTS.maxBackoffMs),
});
export type FailoverSpec = z.infer<typeof failoverSpecSchema>;

/**
 * How an incarnation starts (RoleConfig.start). `fresh`: first start of generation 0.
 * `replacement`: restart-role, same generation, a new attempt taking over from a lost one: a ps
 * shard restores from `restoreFrom` (null: no checkpoint yet, it initializes), a worker resumes
 * at the position the ps shards acknowledged for it (`resume` is the AM's last known position, a
 * lower bound). `rollback`: a new generation; every role restores from `restoreFrom` (workers at
 * the manifest's positions), or starts afresh when it is null.
 */
export const RoleStart = {
  Fresh: 'fresh',
  Replacement: 'replacement',
  Rollback: 'rollback',
} as const;
export type RoleStart = (typeof RoleStart)[keyof typeof RoleStart];
export const roleStartSchema = z.enum([RoleStart.Fresh, RoleStart.Replacement, RoleStart.Rollback]);

/** A worker's data position as the AM last saw it (RoleConfig.resume). */
export const resumePositionSchema = z.strictObject({
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  /** Examples the predecessor had trained on (every epoch). */
  examples: z.number().int().min(0),
});
export type ResumePosition = z.infer<typeof resumePositionSchema>;

/**
 * am -> roles of a job, published on Subjects.jobControl(jobId) (core NATS, best effort: the new
 * incarnation's own token carries the same news to whoever it talks to).
 * `role-replaced`: `superseded` (and every older attempt of that role) must be refused from now
 * on (ps: FENCED, then forget what it left, e.g. a pending sync gradient); `by` is its
 * replacement. `generation`: the job restarts under `generation`; everything older is refused
 * and a role of an older generation stops by itself (the AM stops it too).
 */
export const jobControlNoticeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('role-replaced'),
    jobId: resourceName,
    superseded: fencingTokenSchema,
    by: fencingTokenSchema,
    reason: z.string().max(2000),
  }),
  z.strictObject({
    type: z.literal('generation'),
    jobId: resourceName,
    generation: z.number().int().min(0),
    /** Checkpoint manifest every role of the new generation restores from; null: from scratch. */
    restoreFrom: z.string().max(512).nullable(),
    reason: z.string().max(2000),
  }),
]);
export type JobControlNotice = z.infer<typeof jobControlNoticeSchema>;
