import * as tf from '@tensorflow/tfjs';
import {
  artifactFromBlobs,
  artifactToBlobs,
  exportModelArtifact,
  loadArtifactModel,
  ModelArtifact,
} from '@dln/ml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactFor, records } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { ModelShells, modelShells } from './model-shells';
import { decodeWeightTensors, loadModelStepwise } from './stepwise-load';

describe('model shells: a later version of the same topology reuses an unloaded model', () => {
  let servable: ReturnType<typeof artifactFor>;
  /** Two exports of one model (so one topology) with different weights, and another topology. */
  let first: ModelArtifact;
  let second: ModelArtifact;
  let otherTopology: ModelArtifact;
  const body = { instances: records(6, 5).map(({ rid: _r, y: _y, k: _k, ...rest }) => rest) };

  const exported = async (model: tf.LayersModel, from = servable): Promise<ModelArtifact> =>
    artifactFromBlobs(
      artifactToBlobs(
        await exportModelArtifact(model, {
          pipeline: from.snapshot,
          outputSchema: from.outputSchema,
        }),
      ),
    );
  /** What the artifact scores, loaded the plain tfjs way (no shells involved). */
  const reference = async (artifact: ModelArtifact): Promise<number[]> => {
    const model = await loadArtifactModel(artifact);
    const loaded = new LoadedModel('m', 1, { ...servable, model }, DEFAULT_SERVING_LIMITS);
    try {
      return Array.from(loaded.run(loaded.encoder.encode(body, 'predict')));
    } finally {
      model.dispose();
    }
  };

  beforeAll(async () => {
    await tf.setBackend('cpu');
    servable = artifactFor('binary', 21);
    first = await exported(servable.model);
    servable.model.setWeights(
      servable.model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.3, 'float32', i)),
    );
    second = await exported(servable.model);
    const other = artifactFor('binary', 22);
    otherTopology = await exported(other.model, other);
    other.model.dispose();
  });
  afterAll(() => servable.model.dispose());

  it("sets the next version's weights into the kept model: it scores exactly like a fresh load", async () => {
    const shells = new ModelShells();
    const v1 = await loadModelStepwise(first, shells);
    shells.recycle(v1);
    expect(shells.size).toBe(1);
    const unrelated = await loadModelStepwise(otherTopology, shells);
    expect(unrelated).not.toBe(v1);
    expect(shells.size).toBe(1);
    const v2 = await loadModelStepwise(second, shells);
    expect(v2).toBe(v1);
    expect(shells.size).toBe(0);
    const loaded = new LoadedModel('m', 2, { ...servable, model: v2 }, DEFAULT_SERVING_LIMITS);
    const scores = Array.from(loaded.run(loaded.encoder.encode(body, 'predict')));
    expect(scores).toEqual(await reference(second));
    expect(scores).not.toEqual(await reference(first));
    v2.dispose();
    unrelated.dispose();
  });

  it('a disposed version refuses to score once the next version took its model', async () => {
    const v1Model = await loadModelStepwise(first);
    const v1 = new LoadedModel('m', 1, { ...servable, model: v1Model }, DEFAULT_SERVING_LIMITS);
    const batch = v1.encoder.encode(body, 'predict');
    v1.run(batch);
    v1.dispose();
    const v2Model = await loadModelStepwise(second);
    expect(v2Model).toBe(v1Model);
    expect(() => v1.run(batch)).toThrow(/unloaded/);
    const v2 = new LoadedModel('m', 2, { ...servable, model: v2Model }, DEFAULT_SERVING_LIMITS);
    expect(Array.from(v2.run(batch))).toEqual(await reference(second));
    v2.dispose();
    modelShells.clear();
  });

  it('keeps at most its bound and disposes models it does not know', async () => {
    const shells = new ModelShells(1);
    const a = await loadModelStepwise(first, shells);
    const b = await loadModelStepwise(first, shells);
    shells.recycle(a);
    shells.recycle(b);
    expect(shells.size).toBe(1);
    expect(() => b.getWeights()).toThrow(/disposed/);
    const stranger = await loadArtifactModel(first);
    shells.recycle(stranger);
    expect(shells.size).toBe(1);
    expect(() => stranger.getWeights()).toThrow(/disposed/);
    shells.clear();
    expect(shells.size).toBe(0);
    expect(() => a.getWeights()).toThrow(/disposed/);
  });

  it('decodes weights from unaligned bytes and refuses weight data shorter than its manifest', () => {
    const specs = first.modelJson.weightsManifest[0]?.weights ?? [];
    const shifted = new Uint8Array(first.weightData.byteLength + 1);
    shifted.set(first.weightData, 1);
    const tensors = decodeWeightTensors(specs, shifted.subarray(1));
    const spec = specs[0];
    if (!spec) throw new Error('no weights');
    expect(Array.from(tensors[spec.name]?.dataSync() ?? [])).toEqual(
      Array.from(
        new Float32Array(first.weightData.slice(0, 4 * (tensors[spec.name]?.size ?? 0)).buffer),
      ),
    );
    tf.dispose(Object.values(tensors));
    const before = tf.memory().numTensors;
    expect(() => decodeWeightTensors(specs, first.weightData.subarray(8))).toThrow(/past the/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decodes weights from a Node Buffer that is a view into a larger pool', () => {
    const specs = first.modelJson.weightsManifest[0]?.weights ?? [];
    const pool = Buffer.alloc(first.weightData.byteLength + 16);
    const view = pool.subarray(8, 8 + first.weightData.byteLength);
    view.set(first.weightData);
    const tensors = decodeWeightTensors(specs, view);
    const fresh = decodeWeightTensors(specs, new Uint8Array(first.weightData));
    for (const spec of specs)
      expect(Array.from(tensors[spec.name]?.dataSync() ?? [])).toEqual(
        Array.from(fresh[spec.name]?.dataSync() ?? []),
      );
    tf.dispose([...Object.values(tensors), ...Object.values(fresh)]);
  });
});
