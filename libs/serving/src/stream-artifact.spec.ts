import * as tf from '@tensorflow/tfjs';
import { modelSpecSchema } from '@dln/contracts';
import { buildStreamSnapshot, PipelineEncoder } from '@dln/features';
import { artifactToBlobs, buildModel, exportModelArtifact } from '@dln/ml';
import { beforeAll, describe, expect, it } from 'vitest';
import { servableFromBlobs } from './artifact';
import { records, snapshotFor, source } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';

/** A stream job's export: the model trained on the stream schema, pinned to the stream snapshot. */
async function streamBlobs(withAggregate: boolean): Promise<Map<string, Uint8Array>> {
  const base = snapshotFor('binary');
  const snapshot = buildStreamSnapshot({
    pipeline: 'trips',
    version: 2,
    createdAt: '2026-01-01T00:00:00.000Z',
    records: 200,
    base,
    aggregates: withAggregate
      ? [
          {
            name: 'n1h',
            key: 'c',
            window: { kind: 'tumbling', sizeMs: 3_600_000 },
            aggregate: 'count',
            transform: 'none',
          },
        ]
      : [],
  });
  const spec = modelSpecSchema.parse({
    kind: 'wide_and_deep',
    embeddings: [{ column: 'c', dim: 3 }],
    deepHidden: [4],
  });
  const model = buildModel(spec, snapshot.outputSchema, 5);
  const artifact = await exportModelArtifact(model, {
    pipeline: snapshot,
    outputSchema: snapshot.outputSchema,
  });
  model.dispose();
  return new Map([...artifactToBlobs(artifact)].map(([name, bytes]) => [`m/2/${name}`, bytes]));
}

describe('servableFromBlobs on a stream job artifact', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('serves a stream snapshot without aggregates on its base (a growing vocabulary has room for more ids)', async () => {
    const servable = await servableFromBlobs(await streamBlobs(false), async () => source);
    const base = new PipelineEncoder(snapshotFor('binary')).outputSchema;
    expect(servable.outputSchema).toEqual(base);
    const loaded = new LoadedModel('m', 2, servable, DEFAULT_SERVING_LIMITS);
    const body = { instances: records(3, 4).map(({ rid: _r, y: _y, ...rest }) => rest) };
    const scores = Array.from(loaded.run(loaded.encoder.encode(body, 'predict')));
    expect(scores).toHaveLength(3);
    for (const score of scores) expect(score > 0 && score < 1).toBe(true);
  });

  it('refuses a stream snapshot with per-key aggregates when the feature service cannot be asked', async () => {
    await expect(servableFromBlobs(await streamBlobs(true))).rejects.toThrow(
      /1 per-key aggregate\(s\); serving them needs the feature service/,
    );
  });
});
