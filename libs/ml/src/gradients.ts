import * as tf from '@tensorflow/tfjs';
import {
  classWeightKeys,
  LabelKind,
  ModelSpec,
  OutputSchema,
  TrainingSettings,
} from '@dln/contracts';
import { ExampleBatch } from './batch';
import { InputName, l2Of } from './model-builder';

/** How examples turn into a loss: label kind, class weights by label index, L2 on kernels. */
export interface LossSettings {
  labelKind: LabelKind;
  classWeights?: Float32Array;
  l2?: number;
}

/** A worker's contribution for one step. `gradients` follows describeVariables' order. */
export interface GradientResult {
  loss: number;
  gradients: Float32Array;
  exampleCount: number;
}

const EPSILON = 1e-7;

/** Resolves the job's settings into the loss of this model on this label. */
export function lossSettingsFor(
  spec: ModelSpec,
  schema: OutputSchema,
  settings: Pick<TrainingSettings, 'classWeights'>,
): LossSettings {
  const result: LossSettings = { labelKind: schema.label.kind, l2: l2Of(spec) };
  if (settings.classWeights && schema.label.kind !== 'numeric') {
    const weights = settings.classWeights;
    result.classWeights = Float32Array.from(classWeightKeys(schema), (key) => weights[key] ?? 1);
  }
  return result;
}

/** The model's input tensors for a batch, by input name. */
export function batchInputs(model: tf.LayersModel, batch: ExampleBatch): tf.Tensor[] {
  return model.inputNames.map((name) => {
    if (name === InputName.Ids) return tf.tensor2d(batch.ids, [batch.size, batch.idCount], 'int32');
    if (name === InputName.Dense)
      return tf.tensor2d(batch.dense, [batch.size, batch.denseWidth], 'float32');
    throw new Error(`model input "${name}" is neither "${InputName.Dense}" nor "${InputName.Ids}"`);
  });
}

/** Per-example losses [n] from the model outputs [n, k] and the labels [n]. */
export function exampleLosses(
  outputs: tf.Tensor,
  labels: tf.Tensor1D,
  labelKind: LabelKind,
): tf.Tensor1D {
  if (labelKind === 'numeric')
    return tf.square(tf.sub(tf.reshape(outputs, [-1]), labels)) as tf.Tensor1D;
  const p = tf.clipByValue(outputs, EPSILON, 1 - EPSILON);
  if (labelKind === 'binary') {
    const q = tf.reshape(p, [-1]);
    return tf.neg(
      tf.add(tf.mul(labels, tf.log(q)), tf.mul(tf.sub(1, labels), tf.log(tf.sub(1, q)))),
    ) as tf.Tensor1D;
  }
  const oneHot = tf.oneHot(tf.cast(labels, 'int32'), outputs.shape[1] ?? 1);
  return tf.neg(tf.sum(tf.mul(oneHot, tf.log(p)), 1)) as tf.Tensor1D;
}

function weightedMean(losses: tf.Tensor1D, labels: tf.Tensor1D, settings: LossSettings): tf.Scalar {
  if (!settings.classWeights) return tf.mean(losses) as tf.Scalar;
  const weights = tf.gather(tf.tensor1d(settings.classWeights), tf.cast(labels, 'int32'));
  return tf.div(tf.sum(tf.mul(losses, weights)), losses.shape[0]) as tf.Scalar;
}

function l2Penalty(model: tf.LayersModel, l2: number): tf.Scalar | undefined {
  if (l2 <= 0) return undefined;
  const penalized = model.trainableWeights.filter((w) =>
    /\/(kernel|embeddings)$/.test(w.originalName),
  );
  if (penalized.length === 0) return undefined;
  return tf.mul(l2, tf.addN(penalized.map((w) => tf.sum(tf.square(w.read()))))) as tf.Scalar;
}

/**
 * Loss and flat gradient of the batch's mean (class-weighted) loss with respect to every
 * trainable variable. Dropout is on (training mode). Values are read out of the tensors after
 * `tidy` returns: returning a large TypedArray from `tidy` costs milliseconds.
 */
export function computeGradients(
  model: tf.LayersModel,
  batch: ExampleBatch,
  settings: LossSettings,
): GradientResult {
  // LayerVariable.read() hands out the underlying tf.Variable.
  const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const total = variables.reduce((sum, v) => sum + v.size, 0);
  if (batch.size === 0) return { loss: 0, gradients: new Float32Array(total), exampleCount: 0 };
  const { value, flat } = tf.tidy(() => {
    const inputs = batchInputs(model, batch);
    const labels = tf.tensor1d(batch.labels, 'float32');
    const result = tf.variableGrads(() => {
      const outputs = model.apply(inputs, { training: true }) as tf.Tensor;
      const loss = weightedMean(
        exampleLosses(outputs, labels, settings.labelKind),
        labels,
        settings,
      );
      const penalty = l2Penalty(model, settings.l2 ?? 0);
      return penalty ? tf.add(loss, penalty) : loss;
    }, variables);
    const parts = variables.map((variable) => {
      const grad = result.grads[variable.name];
      return grad ? tf.reshape(grad, [-1]) : tf.zeros([variable.size]);
    });
    return {
      value: result.value,
      flat: parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts),
    };
  });
  try {
    const gradients = flat.dataSync() as Float32Array;
    return { loss: value.dataSync()[0] as number, gradients, exampleCount: batch.size };
  } finally {
    value.dispose();
    flat.dispose();
  }
}

/** Model outputs for a batch in evaluation mode (dropout off): size x outputUnits values. */
export function predictBatch(model: tf.LayersModel, batch: ExampleBatch): Float32Array {
  if (batch.size === 0) return new Float32Array(0);
  const outputs = tf.tidy(
    () => model.apply(batchInputs(model, batch), { training: false }) as tf.Tensor,
  );
  try {
    return outputs.dataSync() as Float32Array;
  } finally {
    outputs.dispose();
  }
}
