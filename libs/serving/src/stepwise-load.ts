import * as tf from '@tensorflow/tfjs';
import { ModelArtifact } from '@dln/ml';

/** Lets the event loop answer what waits (requests, scores) between two synchronous steps. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `loadArtifactModel` in steps with a turn of the event loop between them: the layers built from
 * the topology, the weights decoded into tensors, then set. A model load runs on the loop that
 * answers requests, and in one piece it blocked it for 10-40 ms on a loaded machine (the swap
 * p99 of bench:stream). Same model: the weights are set strictly (every variable, right shapes).
 */
export async function loadModelStepwise(artifact: ModelArtifact): Promise<tf.LayersModel> {
  // The topology is checked as a JSON object by artifactFromBlobs; tfjs reads its own format.
  const topology = artifact.modelJson.modelTopology as unknown as tf.io.ModelJSON['modelTopology'];
  const model = (await tf.models.modelFromJSON({
    modelTopology: withZeroInitializers(topology),
  })) as tf.LayersModel;
  try {
    await nextTurn();
    const { weightData } = artifact;
    const bytes = weightData.buffer.slice(
      weightData.byteOffset,
      weightData.byteOffset + weightData.byteLength,
    ) as ArrayBuffer;
    const weights = tf.io.decodeWeights(
      bytes,
      artifact.modelJson.weightsManifest[0]?.weights ?? [],
    );
    await nextTurn();
    try {
      model.loadWeights(weights, true);
    } finally {
      tf.dispose(Object.values(weights));
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/**
 * The topology with every initializer replaced by zeros: the weights set next overwrite all of
 * them (strictly), and drawing the random initial values cost 3-5 ms of the swap for a 50k
 * parameter MLP against 0.3-0.7 ms for zeros.
 */
export function withZeroInitializers<T>(topology: T): T {
  const zeroed = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(zeroed);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        key.endsWith('_initializer') && isSerializedObject(inner)
          ? { class_name: 'Zeros', config: {} }
          : zeroed(inner),
      ]),
    );
  };
  return zeroed(topology) as T;
}

function isSerializedObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'class_name' in value;
}
