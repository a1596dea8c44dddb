import { z } from 'zod';
import { resourceName } from './names';

/**
 * Distributed inference (`JobSpec.mode: 'inference'`), the original's Python inference path: the
 * ps shards load their slice of a catalogued model version's weights from its artifact (the
 * variable layout its training job used) and serve pulls only; W workers pull the parameters
 * once, score the input in batches and publish one `PredictionMessage` per record to
 * `Subjects.predictions(model)` (the model's predictions stream, the prediction service's topic),
 * with `Nats-Msg-Id: inferenceMsgId(job, source, record id)`.
 *
 * INPUT: the examples of a materialized pipeline version (both splits), or a source's raw
 * stream encoded with the version's pinned pipeline snapshot, read through ONE durable pull
 * consumer the AM creates for the job (`inferenceJobConsumer`) and the workers share; a message
 * is acknowledged only after the PubAck of its score, so a worker lost mid-batch leaves its
 * messages to be redelivered (after `ackWaitSeconds`) and re-scored, and JetStream drops the
 * copies within the stream's duplicate window: exactly one stored score per record. Examples are
 * bounded: a worker finishes once the consumer has nothing pending or unacknowledged, and the job
 * SUCCEEDS when every worker has. A raw stream is not: the job runs until cancelled.
 */
export const INFERENCE_LIMITS = { maxBatch: 4096, maxAckWaitSeconds: 3600 } as const;

/**
 * What an inference job scores: the examples of a materialized version of the model's pipeline
 * (bounded: the job SUCCEEDS once all are scored), or a source's raw stream encoded with the
 * version's pinned pipeline (unbounded: the job runs until cancelled).
 */
export const inferenceInputSchema = z.union([
  z.strictObject({
    pipeline: resourceName,
    /** Default: the pipeline version the model version was trained on (its pinned snapshot). */
    version: z.number().int().positive().optional(),
  }),
  z.strictObject({
    source: resourceName,
    /** Where the job's consumer starts on the raw stream: every stored record, or new ones. */
    startAt: z.enum(['first', 'new']).default('first'),
  }),
]);
export type InferenceInput = z.infer<typeof inferenceInputSchema>;

/** Whether an input is a source's raw stream (unbounded) rather than materialized examples. */
export function isStreamInput(
  input: InferenceInput,
): input is Extract<InferenceInput, { source: string }> {
  return 'source' in input;
}

/** `JobSpec.inference`: the model version to score with, the input, batching and redelivery. */
export const inferenceJobSettingsSchema = z.strictObject({
  model: resourceName,
  /** A catalogued version; absent: the model's default, resolved and recorded at submit. */
  version: z.number().int().positive().optional(),
  input: inferenceInputSchema,
  /** Records per model call and per fetch of a worker. */
  batchSize: z.number().int().min(1).max(INFERENCE_LIMITS.maxBatch).default(256),
  /** A record not acknowledged within this time (its worker was lost) is redelivered. */
  ackWaitSeconds: z.number().int().min(1).max(INFERENCE_LIMITS.maxAckWaitSeconds).default(30),
  /** Longest wait of one fetch for a full batch (JetStream wants >= 1 s). */
  fetchWaitMs: z.number().int().min(1000).max(60_000).default(1000),
});
export type InferenceJobSettings = z.infer<typeof inferenceJobSettingsSchema>;
export type InferenceJobSettingsInput = z.input<typeof inferenceJobSettingsSchema>;

/** RoleConfig.inference: the version's artifact and where the job's records come from. */
export const inferenceRoleSettingsSchema = z.strictObject({
  settings: inferenceJobSettingsSchema.extend({ version: z.number().int().positive() }),
  /** The version's artifact blobs in `Subjects.bucket('models')` (the ps shards load them). */
  objects: z.array(z.string().min(1).max(512)).min(1).max(1024),
  /** The source of the input's records: the prediction messages name it. */
  source: resourceName,
  /** The job's durable consumer on the input's stream. */
  consumer: z.string().min(1).max(128),
});
export type InferenceRoleSettings = z.infer<typeof inferenceRoleSettingsSchema>;

/** The durable consumer an inference job's workers share (one per job, kept across attempts). */
export function inferenceJobConsumer(jobId: string): string {
  if (!/^[a-z0-9_-]{1,64}$/.test(jobId)) throw new Error(`job id "${jobId}" is not a valid name`);
  return `infer_${jobId}`;
}

/** An inference job's message id: one stored score per record and job in the duplicate window. */
export function inferenceMsgId(jobId: string, source: string, recordId: string): string {
  return `${jobId}:${source}:${recordId}`;
}

/** Fields of a batch or stream job spec that an inference job takes from its model version. */
export const TRAINING_ONLY_FIELDS = ['examples', 'model', 'training', 'output', 'stream'] as const;
