import { z } from 'zod';
import { FAILOVER_DEFAULTS, failoverSpecSchema } from './failover';
import { fencingTokenSchema } from './fencing';
import { modelSpecSchema, trainingSettingsSchema, EarlyStoppingMetric } from './models';
import { resourceName } from './names';
import { streamJobSettingsSchema } from './stream-jobs';
import { inferenceJobSettingsSchema, TRAINING_ONLY_FIELDS } from './inference-jobs';
import { JobState, RoleState } from './state-machines';

export const JOB_LIMITS = { maxWorkers: 64, maxPs: 16, maxSchedulingSeconds: 86_400 } as const;

/** Which examples a job trains on: a materialized version, or a pipeline the AM prepares first. */
export const jobExamplesSchema = z.union([
  z.strictObject({ pipeline: resourceName, version: z.number().int().positive() }),
  z.strictObject({ pipeline: resourceName }),
]);

/** Automatic promotion of a new version: not when its metric is worse than the default's by more than `margin`. */
export const promotionPolicySchema = z.strictObject({
  metric: EarlyStoppingMetric.default('loss'),
  margin: z.number().min(0).max(1e6).default(0.01),
});

const clusterSchema = z.strictObject({
  workers: z.number().int().min(1).max(JOB_LIMITS.maxWorkers),
  ps: z.number().int().min(1).max(JOB_LIMITS.maxPs),
});
const schedulingSchema = z
  .strictObject({
    timeoutSeconds: z.number().int().min(1).max(JOB_LIMITS.maxSchedulingSeconds).default(300),
  })
  .default({ timeoutSeconds: 300 });

/** The fields of a job spec (JobSpec is this object with the mode rules of `jobSpecSchema`). */
const jobSpecObject = z.strictObject({
  name: resourceName,
  /**
   * `batch`: epochs over a materialized version; `stream`: a stream pipeline, until cancelled
   * (stream-jobs.ts); `inference`: scores with a catalogued version (inference-jobs.ts; submitted
   * as `inferenceJobSpecSchema`, stored with the model and training settings of the version).
   */
  mode: z.enum(['batch', 'stream', 'inference']).default('batch'),
  examples: jobExamplesSchema,
  model: modelSpecSchema,
  training: trainingSettingsSchema,
  cluster: clusterSchema,
  output: z.strictObject({ model: resourceName, promotion: promotionPolicySchema.optional() }),
  scheduling: schedulingSchema,
  /** What happens when a role is lost or fails (see failover.ts). */
  failover: failoverSpecSchema.default({ ...FAILOVER_DEFAULTS }),
  /** Stream mode only: exports, versions kept, the progressive window. */
  stream: streamJobSettingsSchema.optional(),
  /** Inference mode only: the model version (resolved at submit) and the input it scores. */
  inference: inferenceJobSettingsSchema.optional(),
});

/**
 * A stream job runs until cancelled: its `training` takes no `epochs` (stored as 1, unused) and
 * no early stopping, its updates are asynchronous (the default there), it reads a stream
 * pipeline (`examples: {pipeline}`, no version) and needs `stream` settings.
 */
function streamDefaults(value: unknown, ctx: z.RefinementCtx): unknown {
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { mode?: unknown }).mode !== 'stream'
  )
    return value;
  const spec = value as Record<string, unknown>;
  const training = spec['training'];
  if (typeof training !== 'object' || training === null) return value;
  const settings = training as Record<string, unknown>;
  if ('epochs' in settings)
    ctx.addIssue({
      code: 'custom',
      path: ['training', 'epochs'],
      message: 'a stream job runs until cancelled: no epochs',
    });
  return { ...spec, training: { updateMode: 'async', ...settings, epochs: 1 } };
}

/** `POST /v1/jobs`. */
export const jobSpecSchema = z.preprocess(
  streamDefaults,
  jobSpecObject.superRefine((spec, ctx) => {
    if (spec.mode === 'inference') {
      ctx.addIssue({
        code: 'custom',
        path: ['mode'],
        message: 'an inference job is submitted as inferenceJobSpecSchema',
      });
      return;
    }
    if (spec.inference)
      ctx.addIssue({
        code: 'custom',
        path: ['inference'],
        message: 'only an inference job takes inference settings',
      });
    if (spec.mode !== 'stream') {
      if (spec.stream)
        ctx.addIssue({
          code: 'custom',
          path: ['stream'],
          message: 'only a stream job takes stream settings',
        });
      return;
    }
    if (!spec.stream)
      ctx.addIssue({
        code: 'custom',
        path: ['stream'],
        message: 'a stream job needs stream settings (exportEvery)',
      });
    if (spec.training.updateMode !== 'async')
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'updateMode'],
        message: 'a stream job updates asynchronously',
      });
    if (spec.training.earlyStopping)
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'earlyStopping'],
        message: 'a stream job has no epochs to stop early',
      });
    if ('version' in spec.examples)
      ctx.addIssue({
        code: 'custom',
        path: ['examples', 'version'],
        message: 'a stream job reads a stream pipeline, not a materialized version',
      });
  }),
);
export type JobSpec = z.infer<typeof jobSpecSchema>;
/** What a client sends: a stream job leaves `training.epochs` out. */
export type JobSpecInput = Omit<z.input<typeof jobSpecObject>, 'training'> & {
  training: Omit<z.input<typeof trainingSettingsSchema>, 'epochs'> & { epochs?: number };
};

/** Whether a submitted body asks for an inference job (parsed by `inferenceJobSpecSchema`). */
export function isInferenceSubmission(body: unknown): boolean {
  return (
    typeof body === 'object' && body !== null && (body as { mode?: unknown }).mode === 'inference'
  );
}

/** A precise refusal of each training-only field in an inference spec (before the strict parse). */
function refuseTrainingFields(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const spec = { ...(value as Record<string, unknown>) };
  for (const field of TRAINING_ONLY_FIELDS) {
    if (!(field in spec)) continue;
    ctx.addIssue({
      code: 'custom',
      path: [field],
      message: `an inference job takes no ${field}: the model version brings its model, pipeline and settings`,
    });
    delete spec[field];
  }
  return spec;
}

/**
 * `POST /v1/jobs` with `mode: 'inference'`: the model version, the input, the cluster. The AM
 * resolves it into a JobSpec (`mode: 'inference'`, the version recorded in `inference.version`,
 * the model spec and training settings of the version's training job, `examples` the input,
 * `output.model` the scored model).
 */
const inferenceJobSpecObject = z.strictObject({
  name: resourceName,
  mode: z.literal('inference'),
  inference: inferenceJobSettingsSchema,
  cluster: clusterSchema,
  scheduling: schedulingSchema,
  failover: failoverSpecSchema.default({ ...FAILOVER_DEFAULTS }),
});
export const inferenceJobSpecSchema = z.preprocess(refuseTrainingFields, inferenceJobSpecObject);
export type InferenceJobSpec = z.infer<typeof inferenceJobSpecSchema>;
export type InferenceJobSpecInput = z.input<typeof inferenceJobSpecObject>;

/** Evaluation on the validation split; absent metrics do not apply to the label kind. */
export const evaluationMetricsSchema = z.strictObject({
  loss: z.number(),
  auc: z.number().min(0).max(1).optional(),
  accuracy: z.number().min(0).max(1).optional(),
  mae: z.number().min(0).optional(),
  rmse: z.number().min(0).optional(),
  examples: z.number().int().min(0),
});
export type EvaluationMetrics = z.infer<typeof evaluationMetricsSchema>;

export const jobProgressSchema = z.object({
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  loss: z.number().nullable(),
  examplesPerSecond: z.number().min(0).nullable(),
  examplesSeen: z.number().int().min(0),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;

export const roleViewSchema = z.object({
  role: z.string(),
  state: z.enum(Object.values(RoleState) as [RoleState, ...RoleState[]]),
  nodeId: z.string().nullable(),
  attempt: z.number().int().min(0),
  reason: z.string().nullable(),
});
export type RoleView = z.infer<typeof roleViewSchema>;

/** `GET /v1/jobs/{id}`. */
export const jobViewSchema = z.object({
  id: resourceName,
  name: resourceName,
  state: z.enum(Object.values(JobState) as [JobState, ...JobState[]]),
  reason: z.string().nullable(),
  generation: z.number().int().min(0),
  spec: jobSpecObject,
  pipelineVersion: z.number().int().positive().nullable(),
  roles: z.array(roleViewSchema),
  progress: jobProgressSchema,
  validation: z.array(
    z.object({ epoch: z.number().int().min(0), metrics: evaluationMetricsSchema }),
  ),
  modelVersion: z.number().int().positive().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type JobView = z.infer<typeof jobViewSchema>;

/** One row of `GET /v1/jobs/{id}/events` and one message on Subjects.jobEvents(id). */
export const jobEventSchema = z.object({
  jobId: resourceName,
  seq: z.number().int().min(0),
  at: z.string(),
  type: z.enum([
    'job-state',
    'role-state',
    'progress',
    'evaluation',
    'checkpoint',
    'model-version',
    'info',
  ]),
  from: z.string().nullable(),
  to: z.string().nullable(),
  role: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
export type JobEvent = z.infer<typeof jobEventSchema>;

export { fencingTokenSchema as jobFencingTokenSchema };
