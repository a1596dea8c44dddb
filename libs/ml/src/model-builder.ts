import * as tf from '@tensorflow/tfjs';
import {
  checkModelSpec,
  FieldIssue,
  LayerConfig,
  ModelSpec,
  OutputSchema,
  outputUnits,
} from '@dln/contracts';
import { IdColumn } from './id-column';

/** Names of the model inputs: the dense float32 slice and (wide-and-deep only) the int32 ids. */
export const InputName = { Dense: 'dense', Ids: 'ids' } as const;

type SymbolicTensor = tf.SymbolicTensor;

/** Deterministic per-initializer seeds derived from the job seed, in build order. */
class SeedSequence {
  private count = 0;
  constructor(private readonly seed: number) {}
  next(): number {
    this.count += 1;
    return (this.seed * 7919 + this.count * 104_729) % 2_147_483_647;
  }
}

function outputActivation(schema: OutputSchema): 'sigmoid' | 'softmax' | 'linear' {
  if (schema.label.kind === 'binary') return 'sigmoid';
  return schema.label.kind === 'class' ? 'softmax' : 'linear';
}

function dense(
  name: string,
  units: number,
  activation: string | undefined,
  seeds: SeedSequence,
  useBias = true,
) {
  return tf.layers.dense({
    name,
    units,
    useBias,
    activation: (activation ?? 'linear') as 'linear',
    kernelInitializer: tf.initializers.glorotUniform({ seed: seeds.next() }),
    biasInitializer: 'zeros',
  });
}

function stack(
  input: SymbolicTensor,
  hidden: readonly number[],
  activation: string,
  dropout: number,
  prefix: string,
  seeds: SeedSequence,
) {
  let x = input;
  hidden.forEach((units, index) => {
    x = dense(`${prefix}_${index}`, units, activation, seeds).apply(x) as SymbolicTensor;
    if (dropout > 0)
      x = tf.layers
        .dropout({ name: `${prefix}_dropout_${index}`, rate: dropout })
        .apply(x) as SymbolicTensor;
  });
  return x;
}

function configuredLayer(layer: LayerConfig, index: number, seeds: SeedSequence): tf.layers.Layer {
  const name = `layer_${index}`;
  switch (layer.className) {
    case 'Dense':
      return dense(
        name,
        layer.config.units,
        layer.config.activation,
        seeds,
        layer.config.useBias ?? true,
      );
    case 'Dropout':
      return tf.layers.dropout({ name, rate: layer.config.rate });
    case 'Activation':
      return tf.layers.activation({ name, activation: layer.config.activation });
    case 'LayerNormalization':
      return tf.layers.layerNormalization({
        name,
        ...(layer.config.epsilon ? { epsilon: layer.config.epsilon } : {}),
      });
  }
}

function wideAndDeep(
  spec: Extract<ModelSpec, { kind: 'wide_and_deep' }>,
  schema: OutputSchema,
  seeds: SeedSequence,
) {
  const inputs: SymbolicTensor[] = [];
  const deepParts: SymbolicTensor[] = [];
  let wide: SymbolicTensor | undefined;
  const units = outputUnits(schema);
  if (schema.denseWidth > 0) {
    const denseInput = tf.input({
      name: InputName.Dense,
      shape: [schema.denseWidth],
      dtype: 'float32',
    });
    inputs.push(denseInput);
    deepParts.push(denseInput);
    wide = dense('wide', units, 'linear', seeds).apply(denseInput) as SymbolicTensor;
  }
  const ids = tf.input({ name: InputName.Ids, shape: [schema.ids.length], dtype: 'int32' });
  inputs.push(ids);
  for (const { column, dim } of spec.embeddings) {
    const position = schema.ids.findIndex((id) => id.name === column);
    const idSpec = schema.ids[position];
    if (!idSpec) throw new Error(`unknown id column "${column}"`);
    const picked = new IdColumn({ name: `pick_${column}`, column: position }).apply(
      ids,
    ) as SymbolicTensor;
    const embedded = tf.layers
      .embedding({
        name: `embed_${column}`,
        inputDim: idSpec.cardinality,
        outputDim: dim,
        embeddingsInitializer: tf.initializers.randomUniform({
          minval: -0.05,
          maxval: 0.05,
          seed: seeds.next(),
        }),
      })
      .apply(picked) as SymbolicTensor;
    deepParts.push(tf.layers.flatten({ name: `flat_${column}` }).apply(embedded) as SymbolicTensor);
  }
  const joined =
    deepParts.length === 1
      ? deepParts[0]!
      : (tf.layers.concatenate({ name: 'deep_input' }).apply(deepParts) as SymbolicTensor);
  const deep = stack(joined, spec.deepHidden, spec.activation, spec.dropout, 'deep', seeds);
  const deepLogits = dense('deep_logits', units, 'linear', seeds).apply(deep) as SymbolicTensor;
  const logits = wide
    ? (tf.layers.add({ name: 'wide_plus_deep' }).apply([wide, deepLogits]) as SymbolicTensor)
    : deepLogits;
  const output = tf.layers
    .activation({ name: 'output', activation: outputActivation(schema) })
    .apply(logits) as SymbolicTensor;
  return tf.model({ name: 'wide_and_deep', inputs, outputs: output });
}

/**
 * Builds the TensorFlow.js model of a spec for a pipeline's output schema. Every initializer is
 * seeded from `seed`, so the same spec, schema and seed give the same weights on any backend.
 * Layer names are fixed, which keeps variable names and order stable across processes.
 */
export function buildModel(spec: ModelSpec, schema: OutputSchema, seed: number): tf.LayersModel {
  const seeds = new SeedSequence(seed);
  if (spec.kind === 'wide_and_deep') return wideAndDeep(spec, schema, seeds);
  const input = tf.input({ name: InputName.Dense, shape: [schema.denseWidth], dtype: 'float32' });
  let x: SymbolicTensor = input;
  if (spec.kind === 'mlp')
    x = stack(input, spec.hidden, spec.activation, spec.dropout, 'hidden', seeds);
  if (spec.kind === 'layers') {
    spec.layers.forEach((layer, index) => {
      x = configuredLayer(layer, index, seeds).apply(x) as SymbolicTensor;
    });
  }
  const output = dense('output', outputUnits(schema), outputActivation(schema), seeds).apply(
    x,
  ) as SymbolicTensor;
  return tf.model({ name: spec.kind, inputs: input, outputs: output });
}

/** L2 penalty weight of a spec (0 when none); applied to kernels and embeddings by the loss. */
export function l2Of(spec: ModelSpec): number {
  return 'l2' in spec ? spec.l2 : 0;
}

/**
 * The contract checks of a spec against a schema, then a trial build: every issue with its path,
 * empty when TensorFlow.js builds the model. For job submission (a precise 400).
 */
export function validateModelSpec(
  spec: ModelSpec,
  schema: OutputSchema,
  prefix = 'model',
): FieldIssue[] {
  const issues = checkModelSpec(spec, schema, prefix);
  if (issues.length > 0) return issues;
  try {
    buildModel(spec, schema, 0).dispose();
    return [];
  } catch (error) {
    return [
      {
        path: prefix,
        message: `TensorFlow.js cannot build this model: ${(error as Error).message}`,
      },
    ];
  }
}
