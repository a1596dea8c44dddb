import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import {
  ControlPattern,
  decodeExample,
  Example,
  ModelVersion,
  modelSpecSchema,
  RawRecord,
  RecordHeader,
  sourceDeclarationSchema,
  SourceDescription,
  StreamGroupStatus,
  StreamKeys,
  StreamPipelineSpecInput,
  StreamSnapshot,
  streamSnapshotSchema,
  Subjects,
} from '@dln/contracts';
import { artifactToBlobs, buildModel, exportModelArtifact, selectBackend } from '@dln/ml';
import {
  connectNats,
  encodeJson,
  jetStreamManagerOf,
  jetStreamOf,
  NatsConnection,
  natsHeaders,
  publishAll,
  requestJson,
} from '@dln/messaging';
import { DEFAULT_SERVING_LIMITS, LoadedModel, servableFromBlobs } from '@dln/serving';
import {
  deleteStreamsOfRoot,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureAggregates } from './feature-aggregates';
import { createPredictionApp } from './prediction.app';
import { loadPredictionConfig } from './prediction.config';

// Serving a stream model with per-key aggregates against the real feature service (built,
// started as a process) over real NATS: a record scored over REST gets exactly the example the
// feature service's pipeline later computes for it; 400 without the event time; 503 once the
// feature service is gone.
const root = uniqueRoot('serve_agg');
const subjects = new Subjects(root);
const dataDir = mkdtempSync(join(tmpdir(), 'dln-serve-agg-'));
const source = sourceDeclarationSchema.parse({
  name: 'imp',
  idField: 'id',
  fields: [
    { name: 'id', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'user', type: 'string' },
    { name: 'amount', type: 'number' },
    { name: 'clicked', type: 'boolean' },
  ],
});
const spec: StreamPipelineSpecInput = {
  mode: 'stream',
  name: 'clicks',
  source: 'imp',
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
  snapshotEveryRecords: 1_000_000,
};
const T0 = Date.UTC(2026, 0, 5, 12);
const ev = (id: string, dt: number, user: string, amount: number): RawRecord => ({
  id,
  t: T0 + dt,
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
/** Scored before the pipeline sees them: times at or after its watermark (T0 + 180). */
const scored = [ev('r1', 240, 'u', 5), ev('r2', 260, 'v', 7), ev('r3', 230, 'w', 1)];
const body = (list: RawRecord[], drop: string[] = []): string =>
  JSON.stringify({
    instances: list.map(({ id: _id, clicked: _c, ...rest }) => {
      const instance: Record<string, unknown> = {
        ...rest,
        t: new Date(rest['t'] as number).toISOString(),
      };
      for (const field of drop) delete instance[field];
      return instance;
    }),
  });

let nc: NatsConnection;
let feature: ServiceProcess | undefined;
let app: NestFastifyApplication | undefined;
let base = '';
let snapshot: StreamSnapshot;
let model: tf.LayersModel;
const blobs = new Map<string, Uint8Array>();
const subscriptions: { unsubscribe(): void }[] = [];

function respond(pattern: ControlPattern, answer: () => unknown): void {
  subscriptions.push(
    nc.subscribe(subjects.control(pattern), {
      callback: (_e, msg) => void msg.respond(encodeJson(answer())),
    }),
  );
}

async function storeRaw(records: RawRecord[]): Promise<void> {
  await publishAll(
    jetStreamOf(nc),
    records.map((record) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, record['id'] as string);
      return {
        subject: subjects.raw('imp', 0),
        data: encodeJson(record),
        msgID: `imp:${String(record['id'])}`,
        headers,
      };
    }),
  );
}

async function storedStatus(): Promise<StreamGroupStatus | undefined> {
  const kv = await new Kvm(nc).open(subjects.bucket('features'));
  const entry = await kv.get(StreamKeys.status('clicks', 0, 1));
  return entry?.operation === 'PUT' ? (entry.json() as StreamGroupStatus) : undefined;
}

/** The examples the feature service published, by event id. */
async function examples(): Promise<Map<string, Example>> {
  const out = new Map<string, Example>();
  const stream = subjects.streamExamplesStream('clicks');
  const info = await (await jetStreamManagerOf(nc)).streams.info(stream);
  if (info.state.messages === 0) return out;
  const consumer = await jetStreamOf(nc).consumers.get(stream, {});
  const messages = await consumer.fetch({ max_messages: 1_000, expires: 5_000 });
  for await (const msg of messages) {
    out.set(msg.headers?.get(RecordHeader.recordId) ?? '', decodeExample(msg.data));
    if (msg.info.pending === 0) break;
  }
  return out;
}

async function predict(text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/v1/models/clicks:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  execFileSync(process.execPath, ['tools/build.mjs'], { stdio: 'ignore' });
  await selectBackend({ log: () => undefined, warn: () => undefined });
  nc = await connectNats({ servers: TEST_NATS_URL, name: 'serve-agg-int-spec' });
  const description: SourceDescription = {
    declaration: source,
    idField: 'id',
    stream: subjects.rawStream('imp'),
    subjects: {
      ingest: subjects.ingest('imp'),
      raw: subjects.rawAll('imp'),
      deadLetter: subjects.deadLetter('imp'),
    },
    stored: { records: 0, bytes: 0 },
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  respond(ControlPattern.sourceDescribe, () => description);
  await (
    await jetStreamManagerOf(nc)
  ).streams.add({ name: subjects.rawStream('imp'), subjects: [subjects.rawAll('imp')] });
  feature = await ServiceProcess.start({
    app: 'feature',
    env: {
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      STREAM_CHECKPOINT_MS: '500',
      STREAM_RECONCILE_MS: '300',
      LOG_LEVEL: 'warn',
    },
  });
  const post = (path: string, json?: unknown) =>
    fetch(`${feature?.url}${path}`, {
      method: 'POST',
      headers: json === undefined ? {} : { 'content-type': 'application/json' },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
  expect((await post('/v1/pipelines', spec)).status).toBe(201);
  expect((await post('/v1/pipelines/clicks/stream/start')).status).toBeLessThan(300);
  await storeRaw(history);
  // Every history event counted and its per-key state checkpointed to KV.
  await waitFor(
    'the history to be checkpointed',
    async () => (await storedStatus())?.counts.events === history.length,
    60_000,
  );
  snapshot = await requestJson(
    nc,
    subjects.control(ControlPattern.streamSnapshot),
    { pipeline: 'clicks' },
    { reply: streamSnapshotSchema, what: 'snapshot', timeoutMs: 10_000 },
  );
  model = buildModel(
    modelSpecSchema.parse({
      kind: 'wide_and_deep',
      embeddings: [{ column: 'user', dim: 2 }],
      deepHidden: [8],
    }),
    snapshot.outputSchema,
    11,
  );
  const artifact = await exportModelArtifact(model, {
    pipeline: snapshot,
    outputSchema: snapshot.outputSchema,
  });
  const store = await new Objm(nc).create(subjects.bucket('models'));
  for (const [file, bytes] of artifactToBlobs(artifact)) {
    await store.putBlob({ name: `clicks/1/${file}` }, bytes);
    blobs.set(`clicks/1/${file}`, bytes);
  }
  const version: ModelVersion = {
    model: 'clicks',
    version: 1,
    jobId: 'job-clicks',
    pipeline: 'clicks',
    pipelineVersion: snapshot.version,
    objects: [...blobs.keys()],
    metrics: { loss: 0.5, examples: 7 },
    isDefault: true,
    pinned: false,
    createdAt: new Date().toISOString(),
  };
  respond(ControlPattern.modelCatalogue, () => ({ versions: [version] }));
  app = await createPredictionApp(
    loadPredictionConfig({
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      PARSE_WORKERS: '1',
      OFFLOAD_BYTES: '120',
      AGGREGATES_TIMEOUT_MS: '1500',
    }),
  );
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  await waitFor(
    'the stream model to serve',
    async () => {
      const view = (await (await fetch(`${base}/v1/models/clicks`)).json()) as {
        model_version_status?: { state: string; status: { error_message?: string } }[];
      };
      const status = view.model_version_status?.[0];
      if (status?.state === 'END') throw new Error(JSON.stringify(status));
      return status?.state === 'AVAILABLE';
    },
    60_000,
  );
}, 180_000);

afterAll(async () => {
  await app?.close();
  await feature?.stop('SIGKILL');
  for (const s of subscriptions) s.unsubscribe();
  if (nc) {
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  }
  model?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('serving a stream model with per-key aggregates', () => {
  it('scores records with exactly the aggregates the feature pipeline then computes for them', async () => {
    // Serving first: small bodies inline, the larger one in the parse worker (OFFLOAD_BYTES).
    const one = await predict(body(scored.slice(0, 1)));
    const all = await predict(body(scored));
    expect(one.status).toBe(200);
    expect(all.status).toBe(200);
    const served = all.body['predictions'] as number[];
    expect(served).toHaveLength(3);
    expect((one.body['predictions'] as number[])[0]).toBe(served[0]);

    // The same reads through the lib, to compare the encoded rows themselves.
    const reader = new FeatureAggregates(nc, subjects, 10_000);
    const servable = await servableFromBlobs(
      blobs,
      async () => source,
      (pipeline) => reader.describe(pipeline),
    );
    const loaded = new LoadedModel('clicks', 1, servable, DEFAULT_SERVING_LIMITS, reader);
    const rows = loaded.encoder.encode(JSON.parse(body(scored)), 'predict');
    await loaded.completeAggregates(rows);
    loaded.dispose();

    // Training: the records reach the pipeline; a later event releases them.
    await storeRaw([...scored, ev('later', 1_000, 'z', 1)]);
    let trained = new Map<string, Example>();
    await waitFor(
      'the examples of the scored records',
      async () => {
        trained = await examples();
        return scored.every((r) => trained.has(r['id'] as string));
      },
      60_000,
    );
    const width = snapshot.outputSchema.denseWidth;
    scored.forEach((record, row) => {
      const example = trained.get(record['id'] as string) as Example;
      expect(Array.from(rows.dense.subarray(row * width, (row + 1) * width))).toEqual(
        Array.from(example.dense),
      );
      expect(Array.from(rows.ids.subarray(row, row + 1))).toEqual(Array.from(example.ids));
    });
    // Hand-computed for r1 (u at +240): tumbling [200,300) before it: e7; sliding [100,300): e4, e5, e7.
    expect(Array.from(trained.get('r1')?.dense ?? [])).toEqual([
      5,
      1,
      Math.fround(Math.log1p(56)),
      Math.fround(56 / 3),
    ]);
    // REST answered what the model gives on the examples training saw.
    const dense = tf.tensor2d(
      scored.flatMap((r) => Array.from(trained.get(r['id'] as string)?.dense ?? [])),
      [3, width],
    );
    const ids = tf.tensor2d(
      scored.flatMap((r) => Array.from(trained.get(r['id'] as string)?.ids ?? [])),
      [3, 1],
      'int32',
    );
    const out = model.predict([dense, ids]) as tf.Tensor;
    const expected = Array.from(out.dataSync());
    tf.dispose([dense, ids, out]);
    expected.forEach((value, i) => expect(served[i]).toBeCloseTo(value, 6));
  }, 120_000);

  it('answers 400 naming the field when a request lacks the event time', async () => {
    const answer = await predict(body(scored.slice(0, 2), ['t']));
    expect(answer.status).toBe(400);
    expect(String(answer.body['error'])).toMatch(
      /^instances\[0\]\.t: missing: the model's per-key aggregates are read at the record's event time/,
    );
  });

  it('answers 503 naming the pipeline when the feature service does not answer', async () => {
    await feature?.stop('SIGKILL');
    feature = undefined;
    const answer = await predict(body(scored.slice(0, 1)));
    expect(answer.status).toBe(503);
    expect(String(answer.body['error'])).toMatch(
      /per-key aggregates of stream pipeline "clicks" \(1 records\): the feature service did not answer within 1500 ms/,
    );
  }, 30_000);
});
