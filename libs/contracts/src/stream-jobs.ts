import { z } from 'zod';
import { resourceName } from './names';

/**
 * Streaming training jobs (`JobSpec.mode: 'stream'`): the workers consume a stream pipeline's
 * examples (`Subjects.streamExamplesStream`) as ONE shared durable pull consumer the AM creates
 * for the job (`streamJobConsumer`); a worker fetches at most `training.batchSize` messages at a
 * time (with `maxAckPending` bounding what is in flight: a slow worker slows its intake, nothing
 * is dropped), scores them with its current parameters (the progressive metric), pushes the
 * gradient to every shard with the batch's stream sequences as its id, and acknowledges the
 * messages once every shard confirmed. A shard recognises a sequence it applied already (a
 * redelivered batch) and does not apply it twice. Updates are asynchronous; the job runs until
 * cancelled.
 */
export const STREAM_JOB_LIMITS = {
  keepVersions: 100,
  progressiveWindow: 1_000_000,
  exportEverySeconds: 86_400,
  /** Sequences one push may name (in ranges). */
  batchRanges: 4096,
} as const;

/** `JobSpec.stream`: when a new version is exported, how many are kept, the progressive window. */
export const streamJobSettingsSchema = z
  .strictObject({
    /** Export after this many steps of worker 0 or this many seconds, whichever comes first. */
    exportEvery: z.strictObject({
      steps: z.number().int().min(1).max(1_000_000_000).optional(),
      seconds: z.number().min(1).max(STREAM_JOB_LIMITS.exportEverySeconds).optional(),
    }),
    /** Model versions of this job kept in the catalogue (older ones are retired). */
    keepVersions: z.number().int().min(1).max(STREAM_JOB_LIMITS.keepVersions).default(3),
    /** M: the progressive log loss is taken over the last M examples scored before training. */
    progressiveWindow: z
      .number()
      .int()
      .min(1)
      .max(STREAM_JOB_LIMITS.progressiveWindow)
      .default(1000),
    /** Where the job's consumer starts on the examples stream. */
    startAt: z.enum(['first', 'new']).default('first'),
    /** A message not acknowledged within this time is redelivered (to any worker). */
    ackWaitSeconds: z.number().int().min(1).max(3600).default(30),
    /** Longest wait of one fetch for a full batch (a quiet stream still exports on time; JetStream wants >= 1 s). */
    fetchWaitMs: z.number().int().min(1000).max(60_000).default(1000),
  })
  .refine((s) => s.exportEvery.steps !== undefined || s.exportEvery.seconds !== undefined, {
    message: 'exportEvery needs steps or seconds',
    path: ['exportEvery'],
  });
export type StreamJobSettings = z.infer<typeof streamJobSettingsSchema>;
export type StreamJobSettingsInput = z.input<typeof streamJobSettingsSchema>;

/** RoleConfig.stream: what a stream job's worker reads and how it exports. */
export const streamRoleSettingsSchema = z.strictObject({
  pipeline: resourceName,
  /** The job's durable consumer on `Subjects.streamExamplesStream(pipeline)`. */
  consumer: z.string().min(1).max(128),
  settings: streamJobSettingsSchema,
});
export type StreamRoleSettings = z.infer<typeof streamRoleSettingsSchema>;

/** The durable consumer a stream job's workers share (one per job, kept across generations). */
export function streamJobConsumer(jobId: string): string {
  if (!/^[a-z0-9_-]{1,64}$/.test(jobId)) throw new Error(`job id "${jobId}" is not a valid name`);
  return `job_${jobId}`;
}

/**
 * A push's batch id (PsHeader.batch): the stream sequences of the examples it carries, as
 * sorted, disjoint, inclusive `[first, last]` ranges.
 */
export const sequenceRangesSchema = z
  .array(z.tuple([z.number().int().min(1), z.number().int().min(1)]))
  .min(1)
  .max(STREAM_JOB_LIMITS.batchRanges)
  .refine(
    (ranges) =>
      ranges.every(([first, last], i) => first <= last && first > (ranges[i - 1]?.[1] ?? 0)),
    { message: 'ranges must be sorted, disjoint and each first <= last' },
  );
export type SequenceRanges = z.infer<typeof sequenceRangesSchema>;

/** Sorted, merged ranges of a set of sequences. */
export function sequenceRangesOf(sequences: Iterable<number>): SequenceRanges {
  const sorted = [...new Set(sequences)].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const seq of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && seq === last[1] + 1) last[1] = seq;
    else ranges.push([seq, seq]);
  }
  return ranges;
}
