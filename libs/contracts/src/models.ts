import { z } from 'zod';
import { FieldIssue } from './errors';
import { OutputSchema } from './examples';

/** Bounds that keep a model spec small enough to build, ship and train on one core. */
export const MODEL_LIMITS = {
  maxUnits: 4096,
  maxHiddenLayers: 16,
  maxLayerConfigs: 64,
  maxEmbeddings: 64,
  maxEmbeddingDim: 512,
  maxParameters: 20_000_000,
} as const;

/** Activations every TensorFlow.js backend implements for dense layers. */
export const Activation = z.enum([
  'relu',
  'elu',
  'selu',
  'tanh',
  'sigmoid',
  'linear',
  'softplus',
  'relu6',
]);
export type Activation = z.infer<typeof Activation>;

const units = z.number().int().min(1).max(MODEL_LIMITS.maxUnits);
const hiddenSizes = z.array(units).min(1).max(MODEL_LIMITS.maxHiddenLayers);
const dropoutRate = z.number().min(0).lt(1);
const l2 = z.number().min(0).max(1);

/** Linear model on the dense slice; the output activation follows the label (logistic for binary). */
export const logisticModelSchema = z.strictObject({
  kind: z.literal('logistic'),
  l2: l2.default(0),
});

/** Multi-layer perceptron on the dense slice. */
export const mlpModelSchema = z.strictObject({
  kind: z.literal('mlp'),
  hidden: hiddenSizes,
  activation: Activation.default('relu'),
  dropout: dropoutRate.default(0),
  l2: l2.default(0),
});

/** Wide (linear on the dense slice) plus deep (dense slice and embeddings of id columns). */
export const wideAndDeepModelSchema = z.strictObject({
  kind: z.literal('wide_and_deep'),
  embeddings: z
    .array(
      z.strictObject({
        column: z.string().min(1).max(128),
        dim: z.number().int().min(1).max(MODEL_LIMITS.maxEmbeddingDim),
      }),
    )
    .min(1)
    .max(MODEL_LIMITS.maxEmbeddings),
  deepHidden: hiddenSizes,
  activation: Activation.default('relu'),
  dropout: dropoutRate.default(0),
  l2: l2.default(0),
});

const inputShape = z.tuple([units]);
const batchInputShape = z.tuple([z.null(), units]);
const epsilon = z.number().gt(0).max(1);

/**
 * One TensorFlow.js layer in its serialized form (`{className, config}`), limited to the layers
 * that make sense on a dense tabular slice. Names and initializers are set by the model builder.
 * No BatchNormalization: its moving statistics are not trainable variables, so the parameter
 * servers could not keep them consistent across workers.
 */
export const layerConfigSchema = z.discriminatedUnion('className', [
  z.strictObject({
    className: z.literal('Dense'),
    config: z.strictObject({
      units,
      activation: Activation.optional(),
      useBias: z.boolean().optional(),
      inputShape: inputShape.optional(),
      batchInputShape: batchInputShape.optional(),
    }),
  }),
  z.strictObject({
    className: z.literal('Dropout'),
    config: z.strictObject({ rate: dropoutRate }),
  }),
  z.strictObject({
    className: z.literal('Activation'),
    config: z.strictObject({ activation: Activation }),
  }),
  z.strictObject({
    className: z.literal('LayerNormalization'),
    config: z.strictObject({ epsilon: epsilon.optional(), inputShape: inputShape.optional() }),
  }),
]);
export type LayerConfig = z.infer<typeof layerConfigSchema>;

/** A plain stack of layer configs on the dense slice; the builder appends the output layer. */
export const layersModelSchema = z.strictObject({
  kind: z.literal('layers'),
  layers: z.array(layerConfigSchema).min(1).max(MODEL_LIMITS.maxLayerConfigs),
});

/** The model part of a job spec. */
export const modelSpecSchema = z.discriminatedUnion('kind', [
  logisticModelSchema,
  mlpModelSchema,
  wideAndDeepModelSchema,
  layersModelSchema,
]);
export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type ModelKind = ModelSpec['kind'];

const learningRate = z.number().gt(0).max(10);
const beta = z.number().min(0).lt(1);

/** Optimizer run by the parameter servers (and the single-process reference loop). */
export const optimizerSettingsSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sgd'), learningRate }),
  z.strictObject({
    kind: z.literal('momentum'),
    learningRate,
    momentum: beta.default(0.9),
    nesterov: z.boolean().default(false),
  }),
  z.strictObject({
    kind: z.literal('adam'),
    learningRate,
    beta1: beta.default(0.9),
    beta2: beta.default(0.999),
    epsilon: z.number().gt(0).max(1).default(1e-7),
  }),
]);
export type OptimizerSettings = z.infer<typeof optimizerSettingsSchema>;

/** Validation metrics a job can stop early on; `loss` and `rmse`/`mae` improve downwards. */
export const EarlyStoppingMetric = z.enum(['loss', 'auc', 'accuracy', 'mae', 'rmse']);
export type EarlyStoppingMetric = z.infer<typeof EarlyStoppingMetric>;

/** Training settings of a batch job. `batchSize` is per worker. */
export const trainingSettingsSchema = z.strictObject({
  epochs: z.number().int().min(1).max(10_000),
  batchSize: z.number().int().min(1).max(65_536),
  optimizer: optimizerSettingsSchema,
  updateMode: z.enum(['sync', 'async']).default('sync'),
  checkpointEvery: z.number().int().min(1).max(1_000_000_000).default(1000),
  keepCheckpoints: z.number().int().min(1).max(100).default(3),
  earlyStopping: z
    .strictObject({
      metric: EarlyStoppingMetric,
      patience: z.number().int().min(0).max(1000),
      minDelta: z.number().min(0).max(1e6).default(0),
    })
    .optional(),
  /** Loss weight per label value: `"0"`/`"1"` for binary labels, class names for class labels. */
  classWeights: z.record(z.string().min(1).max(256), z.number().gt(0).max(1e6)).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(1),
});
export type TrainingSettings = z.infer<typeof trainingSettingsSchema>;
export type TrainingSettingsInput = z.input<typeof trainingSettingsSchema>;

/**
 * Where every trainable variable lives: its slice of the full flat parameter vector (`offset`,
 * `size`, in the model's stable variable order) and of its ps shard's vector (`shardOffset`).
 */
export const parameterLayoutSchema = z.strictObject({
  totalSize: z.number().int().min(0).max(MODEL_LIMITS.maxParameters),
  shardSizes: z.array(z.number().int().min(0)).min(1).max(1024),
  variables: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(256),
        shape: z.array(z.number().int().min(1)).max(8),
        size: z.number().int().min(1),
        offset: z.number().int().min(0),
        shard: z.number().int().min(0),
        shardOffset: z.number().int().min(0),
      }),
    )
    .max(10_000),
});
export type ParameterLayout = z.infer<typeof parameterLayoutSchema>;
export type VariableSlot = ParameterLayout['variables'][number];

function denseStackParameters(
  inputWidth: number,
  hidden: readonly number[],
  outputUnits: number,
): number {
  let count = 0;
  let width = inputWidth;
  for (const size of [...hidden, outputUnits]) {
    count += (width + 1) * size;
    width = size;
  }
  return count;
}

/** Units of the output layer for a label: 1 for binary and numeric, one per class otherwise. */
export function outputUnits(schema: OutputSchema): number {
  return schema.label.kind === 'class' ? schema.label.classes.length : 1;
}

/** Trainable parameter count of a spec on a schema . */
export function countModelParameters(spec: ModelSpec, schema: OutputSchema): number {
  const out = outputUnits(schema);
  switch (spec.kind) {
    case 'logistic':
      return denseStackParameters(schema.denseWidth, [], out);
    case 'mlp':
      return denseStackParameters(schema.denseWidth, spec.hidden, out);
    case 'wide_and_deep': {
      let embedded = 0;
      let tables = 0;
      for (const { column, dim } of spec.embeddings) {
        const cardinality = schema.ids.find((id) => id.name === column)?.cardinality ?? 0;
        tables += cardinality * dim;
        embedded += dim;
      }
      const wide = schema.denseWidth > 0 ? denseStackParameters(schema.denseWidth, [], out) : 0;
      return (
        wide + tables + denseStackParameters(schema.denseWidth + embedded, spec.deepHidden, out)
      );
    }
    case 'layers': {
      let count = 0;
      let width = schema.denseWidth;
      for (const layer of spec.layers) {
        if (layer.className === 'Dense') {
          count += (width + (layer.config.useBias === false ? 0 : 1)) * layer.config.units;
          width = layer.config.units;
        } else if (layer.className === 'LayerNormalization') {
          count += 2 * width;
        }
      }
      return count + denseStackParameters(width, [], out);
    }
  }
}

function declaredInputWidth(layer: LayerConfig): number | undefined {
  switch (layer.className) {
    case 'Dense':
      return layer.config.inputShape?.[0] ?? layer.config.batchInputShape?.[1];
    case 'LayerNormalization':
      return layer.config.inputShape?.[0];
    default:
      return undefined;
  }
}

/**
 * Checks a (parsed) model spec against the output schema of the pipeline version it will train
 * on, and returns every problem with its path (empty when the spec fits).
 */
export function checkModelSpec(
  spec: ModelSpec,
  schema: OutputSchema,
  prefix = 'model',
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const at = (path: string, message: string): void => {
    issues.push({ path: [prefix, path].filter((part) => part !== '').join('.'), message });
  };
  if (spec.kind !== 'wide_and_deep' && schema.denseWidth === 0) {
    at(
      'kind',
      `a ${spec.kind} model needs dense features, but the output schema has a dense width of 0`,
    );
  }
  if (spec.kind === 'wide_and_deep') {
    const seen = new Set<string>();
    spec.embeddings.forEach(({ column }, index) => {
      if (!schema.ids.some((id) => id.name === column)) {
        const known = schema.ids.map((id) => id.name).join(', ') || 'none';
        at(
          `embeddings.${index}.column`,
          `unknown id column "${column}" (the output schema has: ${known})`,
        );
      }
      if (seen.has(column))
        at(`embeddings.${index}.column`, `id column "${column}" is embedded twice`);
      seen.add(column);
    });
  }
  if (spec.kind === 'layers') {
    spec.layers.forEach((layer, index) => {
      const declared = declaredInputWidth(layer);
      if (declared === undefined) return;
      if (index > 0) {
        at(`layers.${index}.config`, 'only the first layer may declare an input shape');
      } else if (declared !== schema.denseWidth) {
        at(
          `layers.${index}.config`,
          `layer input width ${declared} does not fit the dense width ${schema.denseWidth} of the output schema`,
        );
      }
    });
  }
  if (outputUnits(schema) > MODEL_LIMITS.maxUnits) {
    at('', `the label has ${outputUnits(schema)} classes, more than ${MODEL_LIMITS.maxUnits}`);
  }
  if (issues.length === 0) {
    const parameters = countModelParameters(spec, schema);
    if (parameters > MODEL_LIMITS.maxParameters) {
      at('', `the model has ${parameters} parameters, more than ${MODEL_LIMITS.maxParameters}`);
    }
  }
  return issues;
}

const METRICS_BY_LABEL: Record<OutputSchema['label']['kind'], readonly EarlyStoppingMetric[]> = {
  binary: ['loss', 'auc', 'accuracy'],
  class: ['loss', 'accuracy'],
  numeric: ['loss', 'mae', 'rmse'],
};

/** Label values a class weight may name: `"0"`/`"1"` for binary labels, the class names otherwise. */
export function classWeightKeys(schema: OutputSchema): string[] {
  if (schema.label.kind === 'binary') return ['0', '1'];
  if (schema.label.kind === 'class') return [...schema.label.classes];
  return [];
}

/** Checks training settings that depend on the label (class weights, early-stopping metric). */
export function checkTrainingSettings(
  settings: TrainingSettings,
  schema: OutputSchema,
  prefix = 'training',
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const kind = schema.label.kind;
  if (settings.classWeights) {
    const allowed = classWeightKeys(schema);
    for (const key of Object.keys(settings.classWeights)) {
      if (!allowed.includes(key)) {
        const message =
          kind === 'numeric'
            ? 'class weights need a binary or class label, this label is numeric'
            : `unknown label value "${key}" (expected one of: ${allowed.join(', ')})`;
        issues.push({ path: `${prefix}.classWeights.${key}`, message });
      }
    }
  }
  const metric = settings.earlyStopping?.metric;
  if (metric && !METRICS_BY_LABEL[kind].includes(metric)) {
    issues.push({
      path: `${prefix}.earlyStopping.metric`,
      message: `metric "${metric}" does not apply to a ${kind} label (use one of: ${METRICS_BY_LABEL[kind].join(', ')})`,
    });
  }
  return issues;
}
