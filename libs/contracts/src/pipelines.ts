import { z } from 'zod';
import { outputSchemaSchema } from './examples';
import { resourceName } from './names';
import { isTimeZone } from './time-zones';
import { finiteNumber } from './validation';

/** Limits that keep a pipeline's spec, snapshot and examples bounded. */
export const PIPELINE_LIMITS = {
  features: 256,
  boundaries: 1_000,
  vocabularySize: 100_000,
  hashBuckets: 1 << 24,
  crossFields: 4,
  classes: 1_000,
  /** Total one-hot + numeric slots; keeps one example far below NATS's 1 MiB payload. */
  denseWidth: 65_536,
  /** Distinct values one analyzer may count per feature before the fit refuses. */
  distinctValues: 2_000_000,
} as const;

/** A source field a feature reads (a name from the source's schema). */
export const fieldRef = z.string().min(1).max(128);

/**
 * What to do when a feature's input is missing (absent, null, NaN, ±Infinity, or ""). Without a
 * `missing` entry, such a record cannot be encoded and the error names the field.
 * `mean` is for numeric inputs only; `mode` takes the most frequent value seen at fit time.
 */
export const missingSchema = z.discriminatedUnion('strategy', [
  z.object({
    strategy: z.literal('default'),
    value: z.union([finiteNumber, z.string().max(1024), z.boolean()]),
  }),
  z.object({ strategy: z.literal('mean') }),
  z.object({ strategy: z.literal('mode') }),
]);
export type MissingHandling = z.infer<typeof missingSchema>;

/** How a discrete feature is emitted: one-hot slots in the dense slice, or one integer-id column. */
export const encodingSchema = z.enum(['onehot', 'id']);
export type FeatureEncoding = z.infer<typeof encodingSchema>;

const featureBase = { name: resourceName, missing: missingSchema.optional() };

/**
 * Numeric scaling. `standardize`: (x - mean) / std with the population std, or x - mean when the
 * std is 0; `minmax`: (x - min) / (max - min), not clipped, 0 when max = min; `log1p`:
 * sign(x) * ln(1 + |x|), so negatives are defined; `none`: x.
 */
export const numericFeatureSchema = z.object({
  ...featureBase,
  kind: z.literal('numeric'),
  field: fieldRef,
  transform: z.enum(['standardize', 'minmax', 'log1p', 'none']),
});

/** Bucket i holds boundaries[i-1] <= x < boundaries[i]: k boundaries make k + 1 buckets. */
export const bucketizeFeatureSchema = z.object({
  ...featureBase,
  kind: z.literal('bucketize'),
  field: fieldRef,
  boundaries: z
    .array(finiteNumber)
    .min(1)
    .max(PIPELINE_LIMITS.boundaries)
    .refine((b) => b.every((value, i) => i === 0 || value > (b[i - 1] as number)), {
      message: 'must be strictly increasing',
    }),
  encoding: encodingSchema.default('onehot'),
});

/**
 * Categorical: a vocabulary learned at fit (most frequent first, ties by code-unit order, at most
 * `maxSize` entries seen at least `minCount` times; id 0 is the out-of-vocabulary bucket), or
 * murmur3-32 hashing into `buckets`.
 */
export const categoricalFeatureSchema = z.object({
  ...featureBase,
  kind: z.literal('categorical'),
  field: fieldRef,
  vocabulary: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('learned'),
      maxSize: z.number().int().min(1).max(PIPELINE_LIMITS.vocabularySize),
      minCount: z.number().int().min(1).default(1),
    }),
    z.object({
      kind: z.literal('hash'),
      buckets: z.number().int().min(1).max(PIPELINE_LIMITS.hashBuckets),
    }),
  ]),
  encoding: encodingSchema.default('id'),
});

/** A hashed cross of categorical fields: one id column in [0, buckets). */
export const crossFeatureSchema = z.object({
  ...featureBase,
  kind: z.literal('cross'),
  fields: z.array(fieldRef).min(2).max(PIPELINE_LIMITS.crossFields),
  buckets: z.number().int().min(1).max(PIPELINE_LIMITS.hashBuckets),
});

/**
 * hour 0-23, dayOfWeek 0 = Monday .. 6 = Sunday, dayOfMonth 0-30 (the 1st is 0), dayOfYear 0-365
 * (January 1st is 0), month 0 = January .. 11, in an IANA time zone.
 */
export const datetimeFeatureSchema = z.object({
  ...featureBase,
  kind: z.literal('datetime'),
  field: fieldRef,
  part: z.enum(['hour', 'dayOfWeek', 'dayOfMonth', 'dayOfYear', 'month']),
  timeZone: z
    .string()
    .min(1)
    .max(64)
    .refine(isTimeZone, { message: 'must be an IANA time zone, e.g. "UTC" or "America/New_York"' })
    .default('UTC'),
  encoding: encodingSchema.default('onehot'),
});

export const featureSpecSchema = z.discriminatedUnion('kind', [
  numericFeatureSchema,
  bucketizeFeatureSchema,
  categoricalFeatureSchema,
  crossFeatureSchema,
  datetimeFeatureSchema,
]);
export type FeatureSpec = z.infer<typeof featureSpecSchema>;
export type FeatureKind = FeatureSpec['kind'];
export type NumericFeatureSpec = z.infer<typeof numericFeatureSchema>;
export type BucketizeFeatureSpec = z.infer<typeof bucketizeFeatureSchema>;
export type CategoricalFeatureSpec = z.infer<typeof categoricalFeatureSchema>;
export type CrossFeatureSpec = z.infer<typeof crossFeatureSchema>;
export type DatetimeFeatureSpec = z.infer<typeof datetimeFeatureSchema>;

/**
 * The label: `binary` is 1 when the numeric field is above the threshold (`>=` when inclusive)
 * or when a boolean field is true; `class` maps a categorical field to a class index (the
 * given classes in order, or learned: most frequent first); `numeric` is the value itself.
 */
export const labelSpecSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('binary'),
    field: fieldRef,
    threshold: finiteNumber.optional(),
    inclusive: z.boolean().default(false),
  }),
  z.object({
    kind: z.literal('class'),
    field: fieldRef,
    classes: z.array(z.string().min(1).max(256)).min(2).max(PIPELINE_LIMITS.classes).optional(),
    maxClasses: z.number().int().min(2).max(PIPELINE_LIMITS.classes).default(100),
  }),
  z.object({ kind: z.literal('numeric'), field: fieldRef }),
]);
export type LabelSpec = z.infer<typeof labelSpecSchema>;

/**
 * Deterministic split: a record goes to validation when murmur3-32(seed + id) / 2^32 is below
 * the fraction, so the same id lands on the same side in every version and materialization.
 */
export const splitSpecSchema = z.object({
  validationFraction: z.number().min(0).max(0.9).default(0.2),
  seed: z.string().max(64).default(''),
});
export type SplitSpec = z.infer<typeof splitSpecSchema>;

/** Body of `POST /v1/pipelines`: a named feature pipeline over one source. */
export const pipelineSpecSchema = z
  .object({
    name: resourceName,
    source: resourceName,
    features: z.array(featureSpecSchema).min(1).max(PIPELINE_LIMITS.features),
    label: labelSpecSchema,
    split: splitSpecSchema.default({ validationFraction: 0.2, seed: '' }),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.features.forEach((feature, index) => {
      if (seen.has(feature.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['features', index, 'name'],
          message: `duplicate feature "${feature.name}"`,
        });
      }
      seen.add(feature.name);
      const fields = feature.kind === 'cross' ? feature.fields : [feature.field];
      if (fields.includes(spec.label.field)) {
        ctx.addIssue({
          code: 'custom',
          path: ['features', index],
          message: `reads the label field "${spec.label.field}" (the label would leak into the inputs)`,
        });
      }
    });
  });
export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;
/** What a client sends (defaults not yet applied). */
export type PipelineSpecInput = z.input<typeof pipelineSpecSchema>;

/** Fitted state of one feature (plain JSON): the statistics and vocabularies the transform uses. */
export const featureStateSchema = z.object({
  name: resourceName,
  /** Records whose input was present / missing at fit time. */
  count: z.number().int().nonnegative(),
  missing: z.number().int().nonnegative(),
  mean: z.number().optional(),
  std: z.number().nonnegative().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  /** Learned vocabulary, most frequent first; id = index + 1 (0 is out-of-vocabulary). */
  vocabulary: z.array(z.string()).optional(),
  /** Resolved value for missing inputs (mean, mode or default), per input field for crosses. */
  fill: z
    .union([z.number(), z.string(), z.array(z.union([z.number(), z.string(), z.null()]))])
    .optional(),
});
export type FeatureState = z.infer<typeof featureStateSchema>;

/** Everything a transform needs besides the record: the spec and the fitted state. */
export const pipelineSnapshotSchema = z.object({
  snapshotVersion: z.literal(1),
  spec: pipelineSpecSchema,
  features: z.array(featureStateSchema),
  label: z.object({
    count: z.number().int().nonnegative(),
    classes: z.array(z.string()).optional(),
    positives: z.number().int().nonnegative().optional(),
    mean: z.number().optional(),
  }),
});
export type PipelineSnapshot = z.infer<typeof pipelineSnapshotSchema>;

export const materializationStatusSchema = z.enum(['none', 'running', 'done', 'failed']);
export type MaterializationStatus = z.infer<typeof materializationStatusSchema>;

/** Counts of examples written per split, and records that could not be encoded. */
export const splitCountsSchema = z.object({
  train: z.number().int().nonnegative(),
  validation: z.number().int().nonnegative(),
  rejected: z.number().int().nonnegative(),
  /** Examples the stream already held (same record id twice in the raw stream). */
  duplicates: z.number().int().nonnegative(),
});
export type SplitCounts = z.infer<typeof splitCountsSchema>;

/** A fitted pipeline version: `GET /v1/pipelines/{name}/versions/{v}` and pipelineDescribe's reply. */
export const pipelineVersionSchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive(),
  fittedAt: z.string(),
  recordCount: z.number().int().nonnegative(),
  /** Last raw-stream sequence the fit read; materialization reads the same range. */
  sourceSequence: z.number().int().nonnegative(),
  snapshot: pipelineSnapshotSchema,
  outputSchema: outputSchemaSchema,
  materialization: z.object({
    status: materializationStatusSchema,
    /** Materializations of this version so far; example msg ids are `<version>.<run>:<record id>`. */
    run: z.number().int().nonnegative(),
    counts: splitCountsSchema,
    processed: z.number().int().nonnegative(),
    stream: z.string().optional(),
    error: z.string().optional(),
    firstErrors: z.array(z.string()).optional(),
    finishedAt: z.string().optional(),
  }),
});
export type PipelineVersion = z.infer<typeof pipelineVersionSchema>;

export const fitStatusSchema = z.enum(['idle', 'fitting', 'failed']);

/** `GET /v1/pipelines/{name}`: the spec and a summary of its versions. */
export const pipelineViewSchema = z.object({
  name: resourceName,
  source: resourceName,
  spec: pipelineSpecSchema,
  createdAt: z.string(),
  fit: z.object({
    status: fitStatusSchema,
    processed: z.number().int().nonnegative(),
    error: z.string().optional(),
  }),
  versions: z.array(
    z.object({
      version: z.number().int().positive(),
      fittedAt: z.string(),
      recordCount: z.number().int().nonnegative(),
      materialization: materializationStatusSchema,
    }),
  ),
});
export type PipelineView = z.infer<typeof pipelineViewSchema>;

/** Request of ControlPattern.pipelineDescribe: a version, or the latest when none is given. */
export const pipelineDescribeRequestSchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive().optional(),
});
export type PipelineDescribeRequest = z.infer<typeof pipelineDescribeRequestSchema>;

/**
 * Request of ControlPattern.pipelinePrepare (from the AM): fit a new version (`fit: 'always'`)
 * or reuse the latest (`'if-missing'`), then materialize it unless already done.
 */
export const pipelinePrepareRequestSchema = z.object({
  pipeline: resourceName,
  fit: z.enum(['always', 'if-missing']).default('if-missing'),
});
export type PipelinePrepareRequest = z.infer<typeof pipelinePrepareRequestSchema>;

/** Reply of pipelinePrepare: where the examples are and what they look like. */
export const pipelinePrepareReplySchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive(),
  outputSchema: outputSchemaSchema,
  counts: splitCountsSchema,
  stream: z.string(),
  subjects: z.object({ train: z.string(), validation: z.string() }),
});
export type PipelinePrepareReply = z.infer<typeof pipelinePrepareReplySchema>;
