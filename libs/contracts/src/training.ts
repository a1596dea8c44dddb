import { z } from 'zod';
import { evaluationMetricsSchema } from './jobs';
import { resumePositionSchema, RoleStart, roleStartSchema } from './failover';
import { fencingTokenSchema } from './fencing';
import { outputSchemaSchema } from './examples';
import { modelSpecSchema, parameterLayoutSchema, trainingSettingsSchema } from './models';
import { resourceName } from './names';
import { sequenceRangesSchema, streamRoleSettingsSchema } from './stream-jobs';
import { inferenceRoleSettingsSchema } from './inference-jobs';

/** Role entry modules the nodes ship (AssignRoleCommand.entry). */
export const RoleEntry = { Worker: 'worker-role', ParameterServer: 'ps-role' } as const;
export type RoleEntry = (typeof RoleEntry)[keyof typeof RoleEntry];

/**
 * What the AM hands every role of a job (AssignRoleCommand.config): the whole layout, so nobody
 * configures an address. Workers read the training examples whose record id falls in their
 * split (`workerSplitOf(recordId, workers) === index`, in @dln/training); shards hold `parameters.variables` with
 * `shard === index`.
 */
export const roleConfigSchema = z.strictObject({
  token: fencingTokenSchema,
  kind: z.enum(['worker', 'ps']),
  index: z.number().int().min(0),
  subjectRoot: resourceName,
  jobName: resourceName,
  workers: z.number().int().min(1),
  shards: z.number().int().min(1),
  model: modelSpecSchema,
  training: trainingSettingsSchema,
  outputSchema: outputSchemaSchema,
  parameters: parameterLayoutSchema,
  examples: z.strictObject({
    pipeline: resourceName,
    version: z.number().int().positive(),
    trainCount: z.number().int().min(0),
    validationCount: z.number().int().min(0),
  }),
  /** Restore from this checkpoint manifest instead of initializing (ps), or resume position (worker). */
  restoreFrom: z.string().max(512).nullable(),
  /** How this incarnation starts (failover.ts RoleStart); absent: fresh. */
  start: roleStartSchema.default(RoleStart.Fresh),
  /** Worker replacements: the predecessor's last position the AM saw; null otherwise. */
  resume: resumePositionSchema.nullable().default(null),
  outputModel: resourceName,
  /**
   * Stream jobs (stream-jobs.ts): the pipeline and the job's consumer; `examples` then names the
   * pipeline and the snapshot version the job started from (counts 0).
   */
  stream: streamRoleSettingsSchema.optional(),
  /**
   * Inference jobs (inference-jobs.ts): the version's artifact, the input and the job's
   * consumer; `model`, `training` and `parameters` are those of the version's training job.
   */
  inference: inferenceRoleSettingsSchema.optional(),
});
export type RoleConfig = z.infer<typeof roleConfigSchema>;

/**
 * role -> am, on Subjects.jobReports(jobId). Events; the AM never blocks a role on them. Roles
 * send them as requests: any reply means the AM handled the report (its Nest handler answers once
 * done); without one (AM gone, NATS down) the role keeps it and re-sends it, in order, so the AM
 * must take a re-sent report idempotently (the token and the report's own keys identify it).
 */
export const roleReportSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('started'),
    token: fencingTokenSchema,
    /**
     * A ps shard that restored a checkpoint: which one, where it stands, and (async replacement)
     * how many of its updates since the checkpoint were lost: the updates a surviving shard took
     * since the same checkpoint (every push goes to every shard; a push in flight at that moment,
     * re-sent and applied, counts: at most one per worker too many); null when none could tell.
     */
    restored: z
      .strictObject({
        from: z.string().max(512),
        step: z.number().int().min(0),
        updateCount: z.number().int().min(0),
        lostUpdates: z.number().int().min(0).nullable(),
      })
      .optional(),
  }),
  z.strictObject({
    type: z.literal('progress'),
    token: fencingTokenSchema,
    epoch: z.number().int().min(0),
    step: z.number().int().min(0),
    loss: z.number().nullable(),
    /** Examples this worker has trained on so far, over every epoch. */
    examples: z.number().int().min(0),
    examplesPerSecond: z.number().min(0),
  }),
  z.strictObject({
    type: z.literal('evaluation'),
    token: fencingTokenSchema,
    epoch: z.number().int().min(0),
    metrics: evaluationMetricsSchema,
  }),
  z.strictObject({
    type: z.literal('checkpoint'),
    token: fencingTokenSchema,
    shard: z.number().int().min(0),
    step: z.number().int().min(0),
    updateCount: z.number().int().min(0),
    object: z.string().min(1).max(512),
  }),
  z.strictObject({
    type: z.literal('exported'),
    token: fencingTokenSchema,
    /** Object Store (bucket Subjects.bucket('models')) names of the artifact's blobs. */
    objects: z.array(z.string().min(1).max(512)).min(1).max(1024),
    metrics: evaluationMetricsSchema,
    trainExamples: z.number().int().min(0),
    /** false when any weight or metric is NaN/infinite (JSON cannot carry them): never catalogued. */
    finite: z.boolean(),
    /**
     * Stream jobs export many times: the worker's step at the export (with the token, the
     * export's identity) and the stream snapshot version the artifact pins.
     */
    stream: z
      .strictObject({
        step: z.number().int().min(0),
        pipelineVersion: z.number().int().positive(),
      })
      .optional(),
  }),
  z.strictObject({ type: z.literal('finished'), token: fencingTokenSchema }),
  z.strictObject({
    type: z.literal('failed'),
    token: fencingTokenSchema,
    reason: z.string().max(2000),
    retryable: z.boolean(),
  }),
]);
export type RoleReport = z.infer<typeof roleReportSchema>;

/**
 * worker -> am at the end of each epoch (request): may the workers go on? `epoch` is the 0-based
 * epoch just finished. The AM holds the reply until every worker has asked and worker 0's
 * evaluation of that epoch is in; verdicts are kept, so a worker retries after a timeout. A
 * superseded token is refused with FENCED.
 */
export const epochGateRequestSchema = z.strictObject({
  token: fencingTokenSchema,
  epoch: z.number().int().min(0),
});
export type EpochGateRequest = z.infer<typeof epochGateRequestSchema>;
export const epochGateReplySchema = z.strictObject({
  proceed: z.boolean(),
  reason: z.string().nullable(),
});
export type EpochGateReply = z.infer<typeof epochGateReplySchema>;

/**
 * Binary ps messages carry this header (length-prefixed JSON) before their float32 payload.
 * Pull: request header only; reply header + the shard's parameters chunk. Push: request header
 * + a gradient chunk (the mean gradient of `count` examples; no values when `count` is 0);
 * reply header only. Vectors above the server's max_payload are split into `chunks` parts:
 * chunk i covers floats [i * ceil(total / chunks), min(total, (i + 1) * ceil(total / chunks))),
 * starting at `offset`; a pull asks for each chunk with its own request (in parallel). Errors
 * come back as a header `{error: ErrorBody.error}` with no values.
 */
export const psHeaderSchema = z.strictObject({
  token: fencingTokenSchema,
  shard: z.number().int().min(0),
  step: z.number().int().min(0),
  count: z.number().int().min(0),
  chunk: z.number().int().min(0),
  chunks: z.number().int().min(1),
  offset: z.number().int().min(0),
  total: z.number().int().min(0),
  /** Push replies: ms the shard held the push (sync barrier + apply), to tell wire time from waiting. */
  heldMs: z.number().min(0).max(86_400_000).optional(),
  /** Push requests: answer with the shard's parameters (this chunk's range) once the push is applied, sparing the next pull. */
  withParams: z.boolean().optional(),
  /** Pull requests: answer the header alone with `positions` instead of the values. Any role of the job may ask. */
  positionsOnly: z.boolean().optional(),
  /**
   * Replies to `positionsOnly`: per worker index, the next step the shard expects from it (every
   * push before it acknowledged): where a replacement worker resumes. A push of an earlier step
   * is a re-send: answered again, never applied twice. The reply's `step` is the shard's step and
   * `count` its update count, as in push replies.
   */
  positions: z.array(z.number().int().min(0)).max(10_000).optional(),
  /**
   * Stream pushes: the stream sequences of the batch (its id). A shard applies a batch none of
   * whose sequences it applied yet, answers one it applied whole with `duplicate` and applies
   * nothing, and refuses one it applied in part (CONFLICT).
   */
  batch: sequenceRangesSchema.optional(),
  /** Replies to a stream push: the batch was applied before, nothing was applied now. */
  duplicate: z.boolean().optional(),
});
export type PsHeader = z.infer<typeof psHeaderSchema>;

/** The checkpoint manifest the AM writes last, once every shard has stored its part. */
export const checkpointManifestSchema = z.strictObject({
  jobId: resourceName,
  generation: z.number().int().min(0),
  step: z.number().int().min(0),
  createdAt: z.string(),
  shards: z.array(
    z.strictObject({
      shard: z.number().int().min(0),
      object: z.string(),
      updateCount: z.number().int().min(0),
    }),
  ),
  variables: parameterLayoutSchema.shape.variables,
  optimizer: z.string(),
  workerPositions: z.array(
    z.strictObject({
      worker: z.number().int().min(0),
      epoch: z.number().int(),
      step: z.number().int(),
    }),
  ),
});
export type CheckpointManifest = z.infer<typeof checkpointManifestSchema>;

/** A catalogued model version (AM's SQL; ControlPattern.modelCatalogue; announcements). */
export const modelVersionSchema = z.object({
  model: resourceName,
  version: z.number().int().positive(),
  jobId: resourceName,
  pipeline: resourceName,
  pipelineVersion: z.number().int().positive(),
  objects: z.array(z.string()),
  metrics: evaluationMetricsSchema,
  isDefault: z.boolean(),
  pinned: z.boolean(),
  createdAt: z.string(),
});
export type ModelVersion = z.infer<typeof modelVersionSchema>;

export const modelCatalogueRequestSchema = z.strictObject({ model: resourceName.optional() });
export const modelCatalogueSchema = z.object({ versions: z.array(modelVersionSchema) });
export type ModelCatalogue = z.infer<typeof modelCatalogueSchema>;

/**
 * Published on Subjects.modelAnnouncements() when a version is added, promoted, pinned, or
 * retired (left the catalogue: a stream job keeps its last K; prediction unloads it).
 */
export const modelAnnouncementSchema = z.object({
  model: resourceName,
  version: z.number().int().positive(),
  defaultVersion: z.number().int().positive().nullable(),
  change: z.enum(['added', 'promoted', 'pinned', 'unpinned', 'retired']),
});
export type ModelAnnouncement = z.infer<typeof modelAnnouncementSchema>;
