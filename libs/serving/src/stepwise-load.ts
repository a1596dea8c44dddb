import * as tf from '@tensorflow/tfjs';
import { ModelArtifact, WeightEntry } from '@dln/ml';
import { modelShells, ModelShells } from './model-shells';

/** Lets the event loop answer what waits (requests, scores) between two synchronous steps. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `loadArtifactModel` in steps with a turn of the event loop between them: the layers built from
 * the topology (or a kept model of the very same topology taken from `shells`), then the weights
 * decoded into tensors and set. A model load runs on the loop that answers requests, and in one
 * piece it blocked it for 10-40 ms on a loaded machine (the swap p99 of bench:stream). Same
 * model: the weights are set strictly (every variable, right shapes).
 */
export async function loadModelStepwise(
  artifact: ModelArtifact,
  shells: ModelShells = modelShells,
): Promise<tf.LayersModel> {
  // The topology is checked as a JSON object by artifactFromBlobs; tfjs reads its own format.
  const topology = artifact.modelJson.modelTopology as unknown as tf.io.ModelJSON['modelTopology'];
  const topologyKey = JSON.stringify(topology);
  const model =
    shells.take(topologyKey) ??
    ((await tf.models.modelFromJSON({
      modelTopology: withZeroInitializers(topology),
    })) as tf.LayersModel);
  shells.remember(model, topologyKey);
  try {
    await nextTurn();
    const weights = decodeWeightTensors(
      artifact.modelJson.weightsManifest[0]?.weights ?? [],
      artifact.weightData,
    );
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
 * The weights as tensors, each copied once from the artifact's bytes (tf.io.decodeWeights wants
 * the whole buffer copied first, then copies every weight out of it again).
 */
export function decodeWeightTensors(
  specs: readonly WeightEntry[],
  data: Uint8Array,
): tf.NamedTensorMap {
  const tensors: tf.NamedTensorMap = {};
  let offset = 0;
  try {
    for (const spec of specs) {
      const size = spec.shape.reduce((product, dim) => product * dim, 1);
      const end = offset + 4 * size;
      if (end > data.byteLength)
        throw new Error(
          `weight ${spec.name} ends at byte ${end}, past the ${data.byteLength} bytes of weight data`,
        );
      // Uint8Array's slice copies, also for a Node Buffer (whose own slice is a view).
      const bytes = Uint8Array.prototype.slice.call(data, offset, end);
      const values =
        spec.dtype === 'int32'
          ? new Int32Array(bytes.buffer, 0, size)
          : new Float32Array(bytes.buffer, 0, size);
      tensors[spec.name] = tf.tensor(values, spec.shape, spec.dtype);
      offset = end;
    }
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  return tensors;
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
