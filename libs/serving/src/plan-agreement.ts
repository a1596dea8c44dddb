import * as tf from '@tensorflow/tfjs';

/** Bound on remembered architectures: a service sees few, but the set never grows without end. */
const MAX_REMEMBERED = 256;
const agreed = new Set<string>();

/**
 * A model's architecture without its weights or layer names: per layer its class, the config
 * that inference reads, weight shapes and the layers it reads from (by position). Two models
 * with the same signature run the same compiled ops; only their weights differ.
 */
export function planSignature(model: tf.LayersModel): string {
  const position = new Map<tf.layers.Layer, number>(model.layers.map((layer, i) => [layer, i]));
  return JSON.stringify(
    model.layers.map((layer) => {
      return [
        layer.getClassName(),
        inferenceConfig(layer),
        layer.weights.map((weight) => weight.shape),
        layer.inboundNodes.map((node) =>
          node.inboundLayers.map((inbound) => position.get(inbound) ?? -1),
        ),
      ];
    }),
  );
}

/**
 * Whether a plan of this architecture already gave the layers model's own answers in this
 * process. A streaming job's versions share one architecture, and probing a new model's first
 * predictOnBatch is the costliest step of a swap on the serving loop.
 */
export function planAgreedBefore(signature: string): boolean {
  return agreed.has(signature);
}

export function rememberAgreedPlan(signature: string): void {
  if (agreed.size >= MAX_REMEMBERED) agreed.clear();
  agreed.add(signature);
}

/** Training-only settings (initializers, regularizers, constraints) and names do not change the ops. */
const TRAINING_ONLY = /(Initializer|Regularizer|Constraint)$/;

function inferenceConfig(layer: tf.layers.Layer): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(layer.getConfig()).filter(([key]) => key !== 'name' && !TRAINING_ONLY.test(key)),
  );
}
