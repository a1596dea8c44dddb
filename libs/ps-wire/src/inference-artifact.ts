import { DlnError, ParameterLayout, Subjects } from '@dln/contracts';
import { artifactFromBlobs, describeVariables, loadArtifactModel, readWeights } from '@dln/ml';
import { blobsByFileName } from '@dln/serving';
import type { NatsConnection } from '@nats-io/transport-node';
import { RoleObjects } from './object-blobs';

/**
 * The trainable weights of a catalogued version's artifact as one flat vector in the order of
 * `layout` (the layout its training job planned from the same model spec, so shard i's slice is
 * what ps i held when the job exported). Refused when the artifact's variables are not the
 * layout's (another model spec or output schema).
 */
export async function loadVersionWeights(
  nc: NatsConnection,
  subjects: Subjects,
  objects: readonly string[],
  layout: ParameterLayout,
): Promise<Float32Array> {
  const store = new RoleObjects(nc, subjects);
  const blobs = new Map<string, Uint8Array>();
  for (const name of objects) blobs.set(name, await store.getBlob('models', name));
  const model = await loadArtifactModel(artifactFromBlobs(blobsByFileName(blobs)));
  try {
    const variables = describeVariables(model);
    const fits =
      variables.length === layout.variables.length &&
      variables.every((variable, i) => {
        const slot = layout.variables[i];
        return (
          slot !== undefined &&
          slot.offset === variable.offset &&
          slot.size === variable.size &&
          slot.shape.join('x') === variable.shape.join('x')
        );
      });
    if (!fits)
      throw new DlnError(
        'CONFLICT',
        `the artifact's variables (${variables.map((v) => `${v.name}[${v.shape.join('x')}]`).join(', ')}) are not the job's layout`,
      );
    return readWeights(model);
  } finally {
    model.dispose();
  }
}
