import { z } from 'zod';
import { resourceName } from './names';
import { SourceLimits } from './sources';

/**
 * Prediction topics: the prediction service scores a source's raw stream continuously with a
 * model and publishes one message per record (apps/prediction README "Prediction topics").
 *
 * - CONFIG: a scorer is declared by `POST /v1/scorers` on any prediction instance; the spec is
 *   stored in the KV bucket `Subjects.bucket('scorers')` (key: the scorer name) and every
 *   instance runs every stored scorer, so the instances share its durable consumers and split
 *   the records between them.
 * - INPUT: the stored raw record format (sources.ts), one durable pull consumer per scorer (or
 *   per listed partition), explicit acks. Nothing is fetched while the model has no version
 *   loaded: records that arrive before any version exists wait in the raw stream.
 * - OUTPUT: a `PredictionMessage` as plain JSON on `Subjects.predictions(model)`, stored in the
 *   stream `Subjects.predictionsStream(model)` (limits retention) with `Nats-Msg-Id:
 *   <source>:<record id>`; the raw message is acknowledged only after the PubAck, so a record
 *   redelivered after a crash is scored again and its copy dropped by JetStream: exactly one
 *   stored score per record within the stream's duplicate window.
 */

/** Bounds on scorers. */
export const ScoringLimits = {
  /** Records per model call. */
  maxBatch: 4096,
  maxScorers: 64,
  defaultBatch: 256,
} as const;

/** `POST /v1/scorers`: score `source`'s raw stream with `model`'s served default version. */
export const scorerSpecSchema = z
  .strictObject({
    /** Scorer name (durable consumer `score_<name>`); default `<model>-<source>`, cut to 64. */
    name: resourceName.optional(),
    source: resourceName,
    model: resourceName,
    /** Only these raw partitions (one durable consumer each); default: every partition. */
    partitions: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(SourceLimits.maxPartitions - 1),
      )
      .min(1)
      .max(SourceLimits.maxPartitions)
      .refine((list) => new Set(list).size === list.length, { message: 'must not repeat' })
      .optional(),
  })
  .transform((spec) => ({
    ...spec,
    name: spec.name ?? `${spec.model}-${spec.source}`.slice(0, 64),
    ...(spec.partitions ? { partitions: [...spec.partitions].sort((a, b) => a - b) } : {}),
  }));
export type ScorerSpecInput = z.input<typeof scorerSpecSchema>;
export type ScorerSpec = z.output<typeof scorerSpecSchema>;

/** A scorer as one instance runs it (`GET /v1/scorers`). */
export interface ScorerStatus {
  spec: ScorerSpec;
  /** waiting: no version of the model is loaded yet, nothing is fetched. */
  state: 'starting' | 'waiting' | 'running' | 'failed';
  /** Records this instance scored and published (duplicates of a redelivery included). */
  scored: number;
  /** Publishes JetStream recognised as copies (a redelivered record already scored). */
  duplicates: number;
  /** Records that could not be encoded: published with `error`, never with a score. */
  unscorable: number;
  /** Records of the consumer not yet delivered to any instance (the last delivery's view). */
  lagRecords: number;
  /** Milliseconds from the newest scored record's storage in the raw stream to its PubAck. */
  lagMs: number | null;
  /** The version that scored the last batch. */
  version: number | null;
  failure?: string;
}

/** One message on `Subjects.predictions(model)`: the score of one raw record. */
export const predictionMessageSchema = z.object({
  /** The record id (`Dln-Record-Id` of the raw message). */
  id: z.string(),
  source: resourceName,
  model: resourceName,
  version: z.number().int().positive(),
  /** binary: P(1); numeric: the value. Absent for class labels and on error. */
  score: z.number().optional(),
  /** class labels: per-class scores in output order. */
  scores: z.array(z.number()).optional(),
  /** Why the record could not be scored (it is still answered exactly once). */
  error: z.string().optional(),
  /** When the record was scored, epoch ms. */
  timestamp: z.number(),
  /** When the raw record was stored in its raw stream (an inference job: its example), epoch ms. */
  ingestedAt: z.number(),
  /** The inference job that scored it (absent from the prediction service's scorers). */
  job: z.string().optional(),
});
export type PredictionMessage = z.infer<typeof predictionMessageSchema>;

/** `<source>:<record id>`: the predictions stream keeps one message per record and source. */
export function predictionMsgId(source: string, recordId: string): string {
  return `${source}:${recordId}`;
}
