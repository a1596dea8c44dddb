import * as tf from '@tensorflow/tfjs';
import { ArtifactFile, artifactToBlobs, exportModelArtifact } from '@dln/ml';
import { beforeAll, describe, expect, it } from 'vitest';
import { blobsByFileName, servableFromBlobs } from './artifact';
import { artifactFor, records, source } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';

describe('servableFromBlobs', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('loads an exported artifact that scores exactly like the model it came from', async () => {
    const original = artifactFor('class', 3, false);
    const exported = await exportModelArtifact(original.model, {
      pipeline: { snapshot: original.snapshot, source },
      outputSchema: original.outputSchema,
      metadata: { job: 'j1' },
    });
    const blobs = new Map(
      [...artifactToBlobs(exported)].map(([name, bytes]) => [`trips/v4/${name}`, bytes]),
    );
    const servable = await servableFromBlobs(blobs);
    expect(servable.source?.name).toBe('trips');
    expect(servable.metadata).toMatchObject({ job: 'j1', classNames: ['a', 'b', 'c'] });
    const before = new LoadedModel('trips', 4, original, DEFAULT_SERVING_LIMITS);
    const after = new LoadedModel('trips', 4, servable, DEFAULT_SERVING_LIMITS);
    const body = { instances: records(4, 9).map(({ rid: _r, y: _y, ...rest }) => rest) };
    const batch = after.encoder.encode(body, 'predict');
    expect(Array.from(after.run(batch))).toEqual(Array.from(before.run(batch)));
  });

  it('validates a pipeline blob once per content: the next version pinning it shares its snapshot', async () => {
    const blobsOf = async (seed: number, withSource: boolean) => {
      const original = artifactFor('binary', seed, false);
      const exported = await exportModelArtifact(original.model, {
        pipeline: withSource ? { snapshot: original.snapshot, source } : original.snapshot,
        outputSchema: original.outputSchema,
      });
      original.model.dispose();
      return artifactToBlobs(exported);
    };
    const v1 = await servableFromBlobs(await blobsOf(11, true));
    const v2 = await servableFromBlobs(await blobsOf(12, true));
    const other = await servableFromBlobs(await blobsOf(11, false));
    expect(v2.snapshot).toBe(v1.snapshot);
    expect(Object.isFrozen(v1.snapshot.spec.features)).toBe(true);
    expect(other.snapshot).not.toBe(v1.snapshot);
    expect(other.snapshot).toEqual(v1.snapshot);
    const broken = new Map(await blobsOf(13, true)).set(
      ArtifactFile.Pipeline,
      new TextEncoder().encode('{"snapshot":{"spec":1}}'),
    );
    for (let i = 0; i < 2; i += 1)
      await expect(servableFromBlobs(broken)).rejects.toThrow(/not a fitted pipeline snapshot/);
    [v1, v2, other].forEach((servable) => servable.model.dispose());
  });

  it('keys blobs by file name, copying Node Buffers (views into shared memory) and nothing else', () => {
    const plain = new Uint8Array([1, 2, 3]);
    const pooled = Buffer.from([4, 5, 6]);
    const named = blobsByFileName(
      new Map<string, Uint8Array>([
        ['trips/4/weights.bin', plain],
        ['trips/4/model.json', pooled],
      ]),
    );
    expect(named.get('weights.bin')).toBe(plain);
    const copied = named.get('model.json');
    expect(Buffer.isBuffer(copied)).toBe(false);
    expect(Array.from(copied ?? [])).toEqual([4, 5, 6]);
  });
});
