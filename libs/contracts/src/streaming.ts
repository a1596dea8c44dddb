import { z } from 'zod';
import { outputSchemaSchema } from './examples';
import { resourceName } from './names';
import {
  featureSpecSchema,
  fieldRef,
  labelSpecSchema,
  PIPELINE_LIMITS,
  pipelineSnapshotSchema,
} from './pipelines';

/**
 * Streaming feature pipelines (`mode: 'stream'`): the feature service runs one continuously on a
 * source's raw stream. Semantics (the pure logic is in @dln/features, README "Streaming"):
 *
 * - EVENT TIME: every input carries its time in a timestamp field. Per raw PARTITION of an input,
 *   the watermark is `max event time seen in it - latenessMs`; a record with time < its
 *   partition's watermark is LATE: dropped and counted (decided by the partition's own order, so
 *   a replay decides alike whatever the interleaving of partitions). The pipeline's watermark is
 *   the minimum over the partitions of its inputs (events, and labels when joined) that are not
 *   IDLE (no record for `idleTimeoutMs` of processing time; when all are, the minimum over those
 *   whose last record came last); it never moves back, and a record
 *   below it (from a partition that was idle) is late too. Records are RELEASED in event-time
 *   order (events before labels at equal times, then by record id) once their time is below it,
 *   so results do not depend on arrival order within the lateness.
 * - DUPLICATES: a record id already buffered is dropped and counted; a copy of a released
 *   record is necessarily late (same event time), so no record is counted twice.
 * - WINDOWED AGGREGATES: per key value, over `[end - sizeMs, t)` where `end` is the end of the
 *   slide step holding the record's time t (`end = floor(t / slideMs) * slideMs + slideMs`;
 *   tumbling: slideMs = sizeMs). Only events STRICTLY BEFORE t count (not the record itself,
 *   nor others at the same instant). count, sum of a numeric field, mean (0 when count is 0).
 * - LABEL JOIN: a released event waits for a label record of the label source with the same key
 *   value and a time L with `t <= L < t + windowMs`; the first such label gives the example its
 *   label (at once); a second label for that event is a duplicate and ignored. An event with no
 *   label when the watermark reaches `t + windowMs` becomes a negative example (label 0).
 * - EXAMPLES: one per event (msg id `<pipeline>:<event id>`), on `Subjects.streamExamples`.
 */

/** Tumbling (slide = size) or sliding windows of event time, in milliseconds. */
export const windowSpecSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('tumbling'),
    sizeMs: z
      .number()
      .int()
      .min(1)
      .max(366 * 86_400_000),
  }),
  z
    .object({
      kind: z.literal('sliding'),
      sizeMs: z
        .number()
        .int()
        .min(1)
        .max(366 * 86_400_000),
      slideMs: z.number().int().min(1),
    })
    .refine((w) => w.sizeMs % w.slideMs === 0 && w.sizeMs / w.slideMs <= 1_000, {
      message: 'sizeMs must be a multiple of slideMs, at most 1000 slides',
      path: ['slideMs'],
    }),
]);
export type WindowSpec = z.infer<typeof windowSpecSchema>;

/** The slide step of a window: its size for a tumbling window. */
export function windowSlideMs(window: WindowSpec): number {
  return window.kind === 'tumbling' ? window.sizeMs : window.slideMs;
}

/**
 * A per-key windowed aggregate over the event stream, appended to the dense slice (after the
 * stateless dense features, in order). `field` is required for sum and mean.
 */
export const aggregateFeatureSchema = z
  .object({
    name: resourceName,
    key: fieldRef,
    window: windowSpecSchema,
    aggregate: z.enum(['count', 'sum', 'mean']),
    field: fieldRef.optional(),
    transform: z.enum(['none', 'log1p']).default('none'),
  })
  .refine((a) => a.aggregate === 'count' || a.field !== undefined, {
    message: 'sum and mean need a numeric field',
    path: ['field'],
  });
export type AggregateFeatureSpec = z.infer<typeof aggregateFeatureSchema>;

/** Joins a label source to the event stream by key within a window (see the semantics above). */
export const labelJoinSchema = z.object({
  source: resourceName,
  /** Key field of the events, and of the label records. */
  eventKey: fieldRef,
  labelKey: fieldRef,
  /** Timestamp field of the label records. */
  labelTime: fieldRef,
  windowMs: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400_000),
});
export type LabelJoinSpec = z.infer<typeof labelJoinSchema>;

export const STREAM_LIMITS = {
  aggregates: 64,
  maxLatenessMs: 7 * 86_400_000,
  maxIdleTimeoutMs: 86_400_000,
  /** Records buffered (waiting for the watermark) before intake pauses. */
  maxBuffered: 1_000_000,
} as const;

/**
 * Body of `POST /v1/pipelines` with `mode: 'stream'`. `features` are the stateless transforms
 * of batch, fitted by running statistics (learned vocabularies must use `encoding: 'id'`,
 * `minCount` 1, and no `mode` fill). With `join`, the label is read from the label record and
 * must be binary. A new snapshot version is published at a checkpoint once
 * `snapshotEveryRecords` more records were seen.
 */
export const streamPipelineSpecSchema = z
  .object({
    mode: z.literal('stream'),
    name: resourceName,
    source: resourceName,
    eventTime: fieldRef,
    latenessMs: z.number().int().min(0).max(STREAM_LIMITS.maxLatenessMs),
    /**
     * A raw partition (of the events or the labels) with no record for this long, in processing
     * time, stops holding the watermark until its next record; 0: never.
     */
    idleTimeoutMs: z.number().int().min(0).max(STREAM_LIMITS.maxIdleTimeoutMs).default(60_000),
    features: z.array(featureSpecSchema).min(1).max(PIPELINE_LIMITS.features),
    aggregates: z.array(aggregateFeatureSchema).max(STREAM_LIMITS.aggregates).default([]),
    label: labelSpecSchema,
    join: labelJoinSchema.optional(),
    snapshotEveryRecords: z.number().int().min(1).max(1e9).default(10_000),
  })
  .superRefine((spec, ctx) => {
    const names = new Set<string>();
    const named = [...spec.features, ...spec.aggregates];
    named.forEach((feature, index) => {
      if (names.has(feature.name))
        ctx.addIssue({
          code: 'custom',
          path: ['features'],
          message: `duplicate feature "${feature.name}"`,
        });
      names.add(feature.name);
      if (index >= spec.features.length) return;
      const f = spec.features[index];
      if (f?.kind === 'categorical' && f.vocabulary.kind === 'learned') {
        if (f.encoding === 'onehot' || f.vocabulary.minCount > 1)
          ctx.addIssue({
            code: 'custom',
            path: ['features', index],
            message:
              'a growing vocabulary needs encoding "id" and minCount 1 (its width would change)',
          });
      }
      if (f?.missing?.strategy === 'mode')
        ctx.addIssue({
          code: 'custom',
          path: ['features', index, 'missing'],
          message: 'mode is not available on a stream',
        });
      const fields = f?.kind === 'cross' ? f.fields : f ? [f.field] : [];
      if (!spec.join && fields.includes(spec.label.field))
        ctx.addIssue({
          code: 'custom',
          path: ['features', index],
          message: 'reads the label field',
        });
    });
    if (spec.join && spec.label.kind !== 'binary')
      ctx.addIssue({
        code: 'custom',
        path: ['label', 'kind'],
        message: 'a joined label must be binary (timeout = 0)',
      });
    if (spec.join?.source === spec.source)
      ctx.addIssue({
        code: 'custom',
        path: ['join', 'source'],
        message: 'labels need a source of their own',
      });
  });
export type StreamPipelineSpec = z.infer<typeof streamPipelineSpecSchema>;
export type StreamPipelineSpecInput = z.input<typeof streamPipelineSpecSchema>;

/**
 * A published stream snapshot version: everything serving needs besides the per-key aggregate
 * state. The model artifact pins `{pipeline, version}`; the output schema does not change
 * between versions of one pipeline (a growing vocabulary reserves maxSize + 1 ids).
 */
export const streamSnapshotSchema = z.object({
  streamSnapshotVersion: z.literal(1),
  pipeline: resourceName,
  version: z.number().int().positive(),
  createdAt: z.string(),
  /** Records the statistics had seen. */
  records: z.number().int().nonnegative(),
  base: pipelineSnapshotSchema,
  aggregates: z.array(aggregateFeatureSchema),
  outputSchema: outputSchemaSchema,
});
export type StreamSnapshot = z.infer<typeof streamSnapshotSchema>;

/**
 * Per-key state of one aggregate feature, as stored for serving (`StreamKeys.aggregate`):
 * `buckets` are `[slide start, count, sum]` of released events (all before `watermark`),
 * `pending` are `[time, value]` of accepted events not yet released (value 1 for a count).
 */
export const keyAggregateStateSchema = z.object({
  watermark: z.number().nullable(),
  buckets: z.array(z.tuple([z.number(), z.number(), z.number()])),
  pending: z.array(z.tuple([z.number(), z.number()])),
});
export type KeyAggregateState = z.infer<typeof keyAggregateStateSchema>;

/** Canonical text of a key value (as categorical values: strings as is, numbers String(n)). */
export function keyText(value: string | number | boolean): string {
  return typeof value === 'string' ? value : String(value);
}

function hexOf(text: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(text)) out += byte.toString(16).padStart(2, '0');
  return out === '' ? '_' : out;
}

/**
 * Key layout of the `Subjects.bucket('features')` KV bucket. Key values are arbitrary text, so
 * they travel as lowercase hex of their UTF-8 bytes (`_` for the empty text).
 */
export const StreamKeys = {
  /** The declared spec and whether it should run (StreamPipelineRecord). */
  spec: (pipeline: string) => `stream.${pipeline}.spec`,
  /** Checkpoint manifest of one partition group (StreamCheckpointManifest); written last. */
  manifest: (pipeline: string, group: number, groups: number) =>
    `stream.${pipeline}.g${group}of${groups}.manifest`,
  /** One chunk of a checkpoint's JSON, by checkpoint epoch. */
  chunk: (pipeline: string, group: number, groups: number, epoch: number, index: number) =>
    `stream.${pipeline}.g${group}of${groups}.e${epoch}.c${index}`,
  /** Counters of one group, refreshed at every checkpoint (StreamGroupStatus). */
  status: (pipeline: string, group: number, groups: number) =>
    `stream.${pipeline}.g${group}of${groups}.status`,
  /** A published snapshot version (StreamSnapshot); never overwritten. */
  snapshot: (pipeline: string, version: number) => `stream.${pipeline}.snapshot.${version}`,
  /** `{version}` of the newest snapshot. */
  latestSnapshot: (pipeline: string) => `stream.${pipeline}.snapshot.latest`,
  /** Per-key state of one aggregate feature (KeyAggregateState), refreshed at checkpoints. */
  aggregate: (pipeline: string, feature: string, key: string | number | boolean) =>
    `stream.${pipeline}.agg.${feature}.${hexOf(keyText(key))}`,
} as const;

/** What `StreamKeys.spec` holds: the spec and whether the instances should run it. */
export const streamPipelineRecordSchema = z.object({
  spec: streamPipelineSpecSchema,
  running: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type StreamPipelineRecord = z.infer<typeof streamPipelineRecordSchema>;

/** A checkpoint is complete once its manifest names it (chunks are written first). */
export const streamCheckpointManifestSchema = z.object({
  epoch: z.number().int().positive(),
  chunks: z.number().int().positive(),
  bytes: z.number().int().nonnegative(),
  writtenAt: z.string(),
});
export type StreamCheckpointManifest = z.infer<typeof streamCheckpointManifestSchema>;

/** Counters of one partition group of a running stream pipeline. */
export const streamGroupStatusSchema = z.object({
  group: z.number().int().nonnegative(),
  groups: z.number().int().positive(),
  partitions: z.array(z.number().int().nonnegative()),
  watermark: z.number().nullable(),
  snapshotVersion: z.number().int().nonnegative(),
  counts: z.object({
    events: z.number().int().nonnegative(),
    labels: z.number().int().nonnegative(),
    late: z.number().int().nonnegative(),
    duplicates: z.number().int().nonnegative(),
    rejected: z.number().int().nonnegative(),
    examples: z.number().int().nonnegative(),
    positives: z.number().int().nonnegative(),
    negatives: z.number().int().nonnegative(),
    unmatchedLabels: z.number().int().nonnegative(),
    duplicateLabels: z.number().int().nonnegative(),
  }),
  buffered: z.number().int().nonnegative(),
  pendingJoins: z.number().int().nonnegative(),
  checkpointEpoch: z.number().int().nonnegative(),
  updatedAt: z.string(),
});
export type StreamGroupStatus = z.infer<typeof streamGroupStatusSchema>;

/** `GET /v1/pipelines/{name}/stream`. */
export const streamPipelineViewSchema = streamPipelineRecordSchema.extend({
  examples: z.object({ stream: z.string(), subject: z.string() }),
  groups: z.array(streamGroupStatusSchema),
  latestSnapshot: z.number().int().nonnegative(),
});
export type StreamPipelineView = z.infer<typeof streamPipelineViewSchema>;

/** Request of ControlPattern.streamSnapshot: a version, or the latest. */
export const streamSnapshotRequestSchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive().optional(),
});
export type StreamSnapshotRequest = z.infer<typeof streamSnapshotRequestSchema>;

/**
 * Request of ControlPattern.streamAggregates (serving): the aggregates of a record at time `at`
 * (epoch ms), read from the per-key states; `record` carries the key fields.
 */
export const streamAggregatesRequestSchema = z.object({
  pipeline: resourceName,
  at: z.number().int().min(-8.64e15).max(8.64e15),
  record: z.record(
    z.string().max(128),
    z.union([z.string().max(65_536), z.number(), z.boolean(), z.null()]),
  ),
});
export type StreamAggregatesRequest = z.infer<typeof streamAggregatesRequestSchema>;

/**
 * Reply: one value per aggregate feature (before its transform), in spec order. `exact` is false
 * when `at` is at or below a state's watermark (its slide step may hold events at or after `at`).
 */
export const streamAggregatesReplySchema = z.object({
  pipeline: resourceName,
  at: z.number(),
  values: z.array(
    z.object({ name: z.string(), value: z.number(), count: z.number().int().nonnegative() }),
  ),
  exact: z.boolean(),
});
export type StreamAggregatesReply = z.infer<typeof streamAggregatesReplySchema>;

/** Headers on stream examples, besides Nats-Msg-Id and Dln-Record-Id (the event id). */
export const StreamExampleHeader = {
  /** The stream snapshot version the example was encoded with. */
  snapshotVersion: 'Dln-Snapshot-Version',
  /** The event's time, epoch ms. */
  eventTime: 'Dln-Event-Time',
} as const;
