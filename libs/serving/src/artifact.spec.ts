import * as tf from '@tensorflow/tfjs';
import { artifactToBlobs, exportModelArtifact } from '@dln/ml';
import { beforeAll, describe, expect, it } from 'vitest';
import { servableFromBlobs } from './artifact';
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
});
