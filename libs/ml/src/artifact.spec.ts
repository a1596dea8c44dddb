import { beforeAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, OutputSchema } from '@dln/contracts';
import { selectBackend } from './backend';
import { batchFromExamples } from './batch';
import { predictBatch } from './gradients';
import { buildModel } from './model-builder';
import { readWeights, writeWeights } from './variables';
import {
  ArtifactFile,
  artifactFromBlobs,
  artifactToBlobs,
  exportModelArtifact,
  loadArtifactModel,
} from './artifact';

const schema: OutputSchema = {
  formatVersion: 1,
  dense: [{ name: 'x', offset: 0, width: 2 }],
  denseWidth: 2,
  ids: [{ name: 'origin', cardinality: 5 }],
  label: { kind: 'binary' },
};
const spec = modelSpecSchema.parse({
  kind: 'wide_and_deep',
  embeddings: [{ column: 'origin', dim: 3 }],
  deepHidden: [4],
});
const batch = batchFromExamples(
  [0, 1, 2, 3, 4].map((id) => ({
    dense: new Float32Array([id / 4, 1 - id / 4]),
    ids: new Int32Array([id]),
    label: id % 2,
  })),
  schema,
);
const pipeline = { name: 'flights', version: 3, state: { vocab: ['SFO', 'JFK'] } };

beforeAll(async () => {
  await selectBackend({ log: () => undefined, warn: () => undefined }, { force: 'wasm' });
});

describe('model artifact', () => {
  it('round-trips through named blobs and predicts exactly as the trained model', async () => {
    const model = buildModel(spec, schema, 4);
    const artifact = await exportModelArtifact(model, {
      pipeline,
      outputSchema: schema,
      metadata: { job: 'j1', auc: 0.7 },
      validationLoss: 0.5,
    });
    const blobs = artifactToBlobs(artifact);
    expect([...blobs.keys()].sort()).toEqual(Object.values(ArtifactFile).sort());
    expect(blobs.get(ArtifactFile.Weights)!.byteLength).toBe(4 * model.countParams());
    const back = artifactFromBlobs(blobs);
    expect(back.classNames).toEqual(['1']);
    expect(back.pipeline).toEqual(pipeline);
    expect(back.metadata).toEqual({ job: 'j1', auc: 0.7 });
    expect(back.outputSchema).toEqual(schema);
    const loaded = await loadArtifactModel(back);
    expect(Array.from(readWeights(loaded))).toEqual(Array.from(readWeights(model)));
    expect(Array.from(predictBatch(loaded, batch))).toEqual(Array.from(predictBatch(model, batch)));
    model.dispose();
    loaded.dispose();
  });

  it('reads blobs held in Node Buffers that share one pool, as an object store returns them', async () => {
    const model = buildModel(spec, schema, 4);
    const blobs = artifactToBlobs(
      await exportModelArtifact(model, { pipeline, outputSchema: schema }),
    );
    // Pack every blob into one shared Buffer at an odd offset, as Node's pooled reads do.
    const pool = Buffer.alloc(1 + [...blobs.values()].reduce((n, b) => n + b.byteLength, 0));
    const pooled = new Map<string, Uint8Array>();
    let offset = 1;
    for (const [name, bytes] of blobs) {
      pool.set(bytes, offset);
      pooled.set(name, pool.subarray(offset, offset + bytes.byteLength));
      offset += bytes.byteLength;
    }
    const loaded = await loadArtifactModel(artifactFromBlobs(pooled));
    expect(Array.from(readWeights(loaded))).toEqual(Array.from(readWeights(model)));
    model.dispose();
    loaded.dispose();
  });

  it('refuses NaN/Infinity weights and a non-finite validation loss', async () => {
    const model = buildModel(spec, schema, 4);
    await expect(
      exportModelArtifact(model, { pipeline, outputSchema: schema, validationLoss: NaN }),
    ).rejects.toThrow(/validation loss is NaN/);
    const weights = readWeights(model);
    weights[weights.length - 1] = Infinity;
    writeWeights(model, weights);
    await expect(exportModelArtifact(model, { pipeline, outputSchema: schema })).rejects.toThrow(
      /non-finite value \(Infinity\)/,
    );
    model.dispose();
  });

  it('refuses missing, truncated or invalid blobs', async () => {
    const model = buildModel(spec, schema, 4);
    const blobs = artifactToBlobs(
      await exportModelArtifact(model, { pipeline, outputSchema: schema }),
    );
    const without = new Map(blobs);
    without.delete(ArtifactFile.OutputSchema);
    expect(() => artifactFromBlobs(without)).toThrow('artifact blob output-schema.json is missing');
    const truncated = new Map(blobs).set(
      ArtifactFile.Weights,
      blobs.get(ArtifactFile.Weights)!.subarray(4),
    );
    expect(() => artifactFromBlobs(truncated)).toThrow(/weight data has/);
    const badHeader = new Map(blobs).set(
      ArtifactFile.Artifact,
      new TextEncoder().encode('{"formatVersion":2}'),
    );
    expect(() => artifactFromBlobs(badHeader)).toThrow(/artifact.json is invalid: formatVersion/);
    // A stored Infinity is refused wherever the blob sits in its buffer (aligned or not).
    const weights = blobs.get(ArtifactFile.Weights)!;
    for (const at of [0, 1, 4, 7]) {
      const pool = new Uint8Array(weights.byteLength + 16);
      const placed = pool.subarray(at, at + weights.byteLength);
      placed.set(weights);
      new DataView(placed.buffer, placed.byteOffset).setFloat32(
        weights.byteLength - 4,
        Infinity,
        true,
      );
      const infinite = new Map(blobs).set(ArtifactFile.Weights, placed);
      expect(() => artifactFromBlobs(infinite)).toThrow(/non-finite value \(Infinity\)/);
      const intact = new Map(blobs).set(
        ArtifactFile.Weights,
        pool.subarray(at, at + weights.byteLength).fill(0),
      );
      expect(() => artifactFromBlobs(intact)).not.toThrow();
    }
    const notJson = new Map(blobs).set(ArtifactFile.Model, new TextEncoder().encode('{'));
    expect(() => artifactFromBlobs(notJson)).toThrow(/model.json is not JSON/);
    model.dispose();
  });
});
