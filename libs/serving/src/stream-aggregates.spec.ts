import * as tf from '@tensorflow/tfjs';
import {
  decodeExample,
  ErrorCode,
  KeyAggregateState,
  modelSpecSchema,
  sourceDeclarationSchema,
  StreamPipelineSpecInput,
  streamPipelineSpecSchema,
  StreamSnapshot,
  UnavailableError,
  ValidationError,
} from '@dln/contracts';
import { aggregateAt, aggregateValue, initialStreamSnapshot, StreamPipeline } from '@dln/features';
import { artifactToBlobs, buildModel, exportModelArtifact } from '@dln/ml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregateLookup, AggregateReader } from './aggregates';
import { servableFromBlobs } from './artifact';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { encodeRawRecords, RawDelivery, RecordScorer } from './record-scoring';
import { ModelRegistry } from './registry';
import { ServedVersion } from './served-version';

// A stream model with per-key aggregates: serving must give a record exactly the example the
// pure stream pipeline (the feature service's logic) computes for it at training.
const specInput: StreamPipelineSpecInput = {
  mode: 'stream',
  name: 'clicks',
  source: 'impressions',
  eventTime: 't',
  latenessMs: 50,
  features: [
    { kind: 'numeric', name: 'amount', field: 'amount', transform: 'none' },
    {
      kind: 'categorical',
      name: 'user',
      field: 'user',
      vocabulary: { kind: 'learned', maxSize: 8 },
      encoding: 'id',
    },
  ],
  aggregates: [
    { name: 'n100', key: 'user', window: { kind: 'tumbling', sizeMs: 100 }, aggregate: 'count' },
    {
      name: 's200',
      key: 'user',
      window: { kind: 'sliding', sizeMs: 200, slideMs: 100 },
      aggregate: 'sum',
      field: 'amount',
      transform: 'log1p',
    },
    {
      name: 'm200',
      key: 'user',
      window: { kind: 'sliding', sizeMs: 200, slideMs: 100 },
      aggregate: 'mean',
      field: 'amount',
    },
  ],
  label: { kind: 'binary', field: 'clicked' },
};
const spec = streamPipelineSpecSchema.parse(specInput);
const source = sourceDeclarationSchema.parse({
  name: 'impressions',
  idField: 'id',
  fields: [
    { name: 'id', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'user', type: 'string' },
    { name: 'amount', type: 'number' },
    { name: 'clicked', type: 'boolean' },
  ],
});
const ev = (id: string, t: number, user: string, amount: number): Record<string, unknown> => ({
  id,
  t,
  user,
  amount,
  clicked: amount > 5,
});
const history = [
  ev('e1', 10, 'u', 1),
  ev('e2', 30, 'u', 2),
  ev('e3', 20, 'v', 4),
  ev('e4', 120, 'u', 8),
  ev('e5', 150, 'u', 16),
  ev('e6', 210, 'v', 3),
  ev('e7', 230, 'u', 32),
];
/** Scored at serving before the pipeline sees them (times at or after the watermark, 180). */
const scored = [ev('r1', 240, 'u', 5), ev('r2', 260, 'v', 7), ev('r3', 230, 'w', 1)];

/** The pipeline after the history, and the per-key states it stores for serving. */
function trainedPipeline(): {
  pipeline: StreamPipeline;
  snapshot: StreamSnapshot;
  states: Map<string, KeyAggregateState>;
} {
  const snapshot = initialStreamSnapshot(spec, '2026-01-01T00:00:00.000Z');
  const pipeline = new StreamPipeline(spec, snapshot);
  for (const record of history) pipeline.offer('event', record['id'] as string, record);
  pipeline.drain();
  const states = new Map<string, KeyAggregateState>();
  for (const s of pipeline.servingStates()) states.set(`${s.feature}/${s.key}`, s.state);
  return { pipeline, snapshot, states };
}

/** Reads the states as the feature service does (aggregateAt, aggregateValue), counting calls. */
function stateReader(states: Map<string, KeyAggregateState>): AggregateReader & { calls: number } {
  const reader = {
    calls: 0,
    read: async (pipeline: string, lookups: readonly AggregateLookup[]) => {
      reader.calls += 1;
      expect(pipeline).toBe('clicks');
      return lookups.map((lookup) =>
        spec.aggregates.map((a) => {
          const state = states.get(`${a.name}/${lookup.keys[a.key]}`);
          return aggregateValue(
            a,
            state ? aggregateAt(state, a.window, lookup.at) : { count: 0, sum: 0 },
          );
        }),
      );
    },
  };
  return reader;
}

async function blobsOf(snapshot: StreamSnapshot): Promise<Map<string, Uint8Array>> {
  const model = buildModel(
    modelSpecSchema.parse({
      kind: 'wide_and_deep',
      embeddings: [{ column: 'user', dim: 2 }],
      deepHidden: [4],
    }),
    snapshot.outputSchema,
    3,
  );
  const artifact = await exportModelArtifact(model, {
    pipeline: snapshot,
    outputSchema: snapshot.outputSchema,
  });
  model.dispose();
  return new Map(
    [...artifactToBlobs(artifact)].map(([name, bytes]) => [`clicks/1/${name}`, bytes]),
  );
}

const describeClicks = async () => ({
  eventTime: 't',
  aggregates: spec.aggregates.map((a) => a.name),
});

describe('serving a stream model with per-key aggregates', () => {
  const loaded: LoadedModel[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterAll(() => loaded.forEach((m) => m.dispose()));

  async function load(
    reader: AggregateReader,
  ): Promise<{ model: LoadedModel; snapshot: StreamSnapshot; pipeline: StreamPipeline }> {
    const trained = trainedPipeline();
    const servable = await servableFromBlobs(
      await blobsOf(trained.snapshot),
      async () => source,
      describeClicks,
    );
    const model = new LoadedModel('clicks', 1, servable, DEFAULT_SERVING_LIMITS, reader);
    loaded.push(model);
    return { model, snapshot: trained.snapshot, pipeline: trained.pipeline };
  }

  it('gives each scored record exactly the example the stream pipeline computes for it at training', async () => {
    const { states } = trainedPipeline();
    const reader = stateReader(states);
    const { model, pipeline } = await load(reader);
    expect(model.outputSchema.denseWidth).toBe(4);
    const body = {
      instances: scored.map(({ id: _id, clicked: _c, ...rest }) => ({
        ...rest,
        t: new Date(rest['t'] as number).toISOString(),
      })),
    };
    const batch = model.encoder.encode(body, 'predict');
    expect(batch.lookups?.map((l) => l.at)).toEqual([240, 260, 230]);
    await model.completeAggregates(batch);
    expect(reader.calls).toBe(1);
    expect(batch.lookups).toBeUndefined();

    // Training: the same records reach the pipeline, and a later event releases them.
    for (const record of scored) pipeline.offer('event', record['id'] as string, record);
    pipeline.offer('event', 'late-enough', ev('late-enough', 1_000, 'z', 1));
    const examples = new Map(pipeline.drain().map((x) => [x.eventId, decodeExample(x.bytes)]));
    scored.forEach((record, row) => {
      const example = examples.get(record['id'] as string);
      expect(example, `example of ${String(record['id'])}`).toBeDefined();
      expect(Array.from(batch.dense.subarray(row * 4, row * 4 + 4))).toEqual(
        Array.from(example!.dense),
      );
      expect(Array.from(batch.ids.subarray(row, row + 1))).toEqual(Array.from(example!.ids));
    });
    // Hand-computed for r1 (u at 240): [200,300) before 240: e7; sliding [100,300): e4, e5, e7.
    expect(Array.from(batch.dense.subarray(0, 4))).toEqual([
      5,
      1,
      Math.fround(Math.log1p(56)),
      Math.fround(56 / 3),
    ]);
    // w was never seen: zeros, not an error.
    expect(Array.from(batch.dense.subarray(9, 12))).toEqual([0, 0, 0]);
  });

  it('scores through the served version: aggregates are read before the model call', async () => {
    const { model } = await load(stateReader(trainedPipeline().states));
    const served = new ServedVersion(model, DEFAULT_SERVING_LIMITS);
    const batch = model.encoder.encode(
      { instances: [{ t: 240, user: 'u', amount: 5 }] },
      'predict',
    );
    const direct = model.encoder.encode(
      { instances: [{ t: 240, user: 'u', amount: 5 }] },
      'predict',
    );
    const scores = await served.score(batch);
    await model.completeAggregates(direct);
    expect(Array.from(scores)).toEqual(Array.from(model.run(direct)));
  });

  it('refuses a request without the event time or the key, naming the field (400)', async () => {
    const { model } = await load(stateReader(new Map()));
    const noTime = () => model.encoder.encode({ instances: [{ user: 'u', amount: 1 }] }, 'predict');
    expect(noTime).toThrow(ValidationError);
    expect(noTime).toThrow(
      /^instances\[0\]\.t: missing: the model's per-key aggregates are read at the record's event time/,
    );
    const noKey = () => model.encoder.encode({ instances: [{ t: 5, amount: 1 }] }, 'predict');
    expect(noKey).toThrow(/^instances\[0\]\.user: /);
  });

  it("fails a score with the reader's 503 when the feature service does not answer", async () => {
    const { model } = await load({
      read: async () => {
        throw new UnavailableError(
          'per-key aggregates of stream pipeline "clicks" (1 records): the feature service did not answer within 2000 ms',
        );
      },
    });
    const served = new ServedVersion(model, DEFAULT_SERVING_LIMITS);
    const batch = model.encoder.encode(
      { instances: [{ t: 240, user: 'u', amount: 5 }] },
      'predict',
    );
    const failure = await served.score(batch).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnavailableError);
    expect((failure as UnavailableError).code).toBe(ErrorCode.Unavailable);
    expect((failure as UnavailableError).httpStatus).toBe(503);
  });

  it('scores stored records: one read per batch, a record without its key is unscorable', async () => {
    const reader = stateReader(trainedPipeline().states);
    const { model } = await load(reader);
    const registry = new ModelRegistry();
    registry.available('clicks', new ServedVersion(model, DEFAULT_SERVING_LIMITS));
    const deliveries: RawDelivery[] = [
      { recordId: 'r1', body: new TextEncoder().encode(JSON.stringify(scored[0])), storedAt: 1 },
      {
        recordId: 'nokey',
        body: new TextEncoder().encode(JSON.stringify({ id: 'nokey', t: 250, amount: 1 })),
        storedAt: 1,
      },
    ];
    const { batch, errors } = encodeRawRecords(model, deliveries);
    expect(batch.size).toBe(1);
    expect(batch.lookups).toEqual([{ at: 240, keys: { user: 'u' } }]);
    expect(errors[1]).toMatch(/^user: missing: the aggregate key/);
    const result = await new RecordScorer(registry, 'impressions', 'clicks').score(deliveries);
    expect(result.unscorable).toBe(1);
    const direct = model.encoder.encode(
      { instances: [{ t: 240, user: 'u', amount: 5 }] },
      'predict',
    );
    await model.completeAggregates(direct);
    expect(result.messages[0]?.score).toBe(model.run(direct)[0]);
  });

  it("needs the feature service at load, and the pipeline's aggregates as trained", async () => {
    const { snapshot } = trainedPipeline();
    const blobs = await blobsOf(snapshot);
    await expect(servableFromBlobs(blobs, async () => source)).rejects.toThrow(
      /has 3 per-key aggregate\(s\); serving them needs the feature service/,
    );
    await expect(
      servableFromBlobs(
        blobs,
        async () => source,
        async () => ({ eventTime: 't', aggregates: ['n100'] }),
      ),
    ).rejects.toThrow(
      /now has the aggregates \[n100\]; the model was trained with \[n100, s200, m200\]/,
    );
    const servable = await servableFromBlobs(blobs, async () => source, describeClicks);
    expect(() => new LoadedModel('clicks', 1, servable, DEFAULT_SERVING_LIMITS)).toThrow(
      /need a reader/,
    );
    servable.model.dispose();
  });
});
