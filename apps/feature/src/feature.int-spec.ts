import 'reflect-metadata';
import {
  ControlPattern,
  decodeExample,
  encodeExample,
  ErrorBody,
  NotFoundError,
  PipelinePrepareReply,
  PipelineSpecInput,
  pipelineSpecSchema,
  pipelineVersionSchema,
  pipelineViewSchema,
  pipelinePrepareReplySchema,
  PipelineVersion,
  PipelineView,
  RawRecord,
  RecordHeader,
  SourceDescription,
  sourceDeclarationSchema,
  Subjects,
} from '@dln/contracts';
import { flightsSourceDeclaration, PipelineEncoder, splitOf } from '@dln/features';
import {
  connectNats,
  decodeJson,
  encodeJson,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import { createServiceApp, JsonLogger } from '@dln/platform';
import { deleteStreamsOfRoot, TEST_DATABASES, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeatureConfig } from './feature.config';
import { FeatureModule } from './feature.module';

const T = Date.UTC(2001, 0, 13, 14, 56); // a Saturday

/** Six flights whose statistics are worked out by hand below. */
const flights: RawRecord[] = [
  { _id: '1', date: T, delay: 20, distance: 100, origin: 'SFO', destination: 'LAX' },
  { _id: '2', date: T + 3_600_000, delay: 5, distance: 200, origin: 'SFO', destination: 'SEA' },
  { _id: '3', date: T + 7_200_000, delay: 16, distance: 300, origin: 'LAX', destination: 'SFO' },
  { _id: '4', date: T, delay: 15, distance: 400, origin: 'JFK', destination: 'SFO' },
  { _id: '5', date: T, delay: -3, distance: 500, origin: 'LAX', destination: 'JFK' },
  { _id: '6', date: T, delay: 60, distance: 600, origin: 'SFO', destination: 'JFK' },
];

const spec: PipelineSpecInput = {
  name: 'delays',
  source: 'flights',
  features: [
    { kind: 'numeric', name: 'distance', field: 'distance', transform: 'standardize' },
    {
      kind: 'categorical',
      name: 'origin',
      field: 'origin',
      vocabulary: { kind: 'learned', maxSize: 2 },
      encoding: 'onehot',
    },
    { kind: 'datetime', name: 'hour', field: 'date', part: 'hour', encoding: 'id' },
    { kind: 'cross', name: 'route', fields: ['origin', 'destination'], buckets: 32 },
  ],
  label: { kind: 'binary', field: 'delay', threshold: 15 },
  split: { validationFraction: 0.5 },
};

describe.each(TEST_DATABASES)('feature service on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`feature_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-feature-'));
  const declaration = sourceDeclarationSchema.parse(flightsSourceDeclaration('flights'));
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  const server = () => app.getHttpServer();
  const logs: Record<string, unknown>[] = [];
  const logger = new JsonLogger('feature-test', 'info', (line) =>
    logs.push(JSON.parse(line) as Record<string, unknown>),
  );
  const logged = (msg: string) => logs.filter((entry) => entry['msg'] === msg);

  /** Stands in for ingest's sourceDescribe responder, answering with the real contract types. */
  function answerSourceDescribe(): void {
    nc.subscribe(subjects.control(ControlPattern.sourceDescribe), {
      callback: (_err, msg) => {
        const { name } = decodeJson(msg.data) as { name: string };
        if (name !== 'flights') {
          msg.respond(encodeJson(new NotFoundError('source', name).toBody()));
          return;
        }
        const description: SourceDescription = {
          declaration,
          idField: '_id',
          stream: subjects.rawStream('flights'),
          subjects: {
            ingest: subjects.ingest('flights'),
            raw: subjects.rawAll('flights'),
            deadLetter: subjects.deadLetter('flights'),
          },
          stored: { records: 0, bytes: 0 },
          createdAt: new Date().toISOString(),
          updatedAt: new Date().toISOString(),
        };
        msg.respond(encodeJson(description));
      },
    });
  }

  /** Stores records the way ingest does: one JSON message each, with the id headers. */
  async function storeRaw(records: RawRecord[]): Promise<void> {
    await publishAll(
      jetStreamOf(nc),
      records.map((record) => {
        const headers = natsHeaders();
        headers.set(RecordHeader.recordId, String(record['_id']));
        return {
          subject: subjects.raw('flights', 0),
          data: encodeJson(record),
          msgID: `flights:${String(record['_id'])}`,
          headers,
        };
      }),
    );
  }

  /** Every example of a version in the examples stream, by subject and msg id. */
  async function readExamples(version: number) {
    const out: { subject: string; msgId: string; recordId: string; bytes: Uint8Array }[] = [];
    const consumer = await jetStreamOf(nc).consumers.get(subjects.examplesStream('delays'), {
      filter_subjects: subjects.examplesAll('delays', version),
    });
    const messages = await consumer.fetch({ max_messages: 1000, expires: 2000 });
    for await (const msg of messages) {
      out.push({
        subject: msg.subject,
        msgId: msg.headers?.get('Nats-Msg-Id') ?? '',
        recordId: msg.headers?.get(RecordHeader.recordId) ?? '',
        bytes: msg.data,
      });
      if (msg.info.pending === 0) break;
    }
    return out;
  }

  beforeAll(async () => {
    const config = loadFeatureConfig({
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      DB_SCHEMA: root,
      PROGRESS_EVERY: '2',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    });
    app = await createServiceApp(FeatureModule.forRoot(config), {
      service: 'feature',
      config,
      logger,
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'feature-test-client' });
    answerSourceDescribe();
    const jsm = await jetStreamManagerOf(nc);
    await jsm.streams.add({
      name: subjects.rawStream('flights'),
      subjects: [subjects.rawAll('flights')],
    });
    await storeRaw(flights);
  });

  afterAll(async () => {
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
    await app?.close();
    if (databaseUrl) await dropPostgresSchema(databaseUrl, root);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('validates a pipeline against its source before storing it', async () => {
    const unknownSource = await request(server())
      .post('/v1/pipelines')
      .send({ ...spec, source: 'nope' })
      .expect(400);
    expect((unknownSource.body as ErrorBody).error.issues).toEqual([
      { path: 'source', message: 'no such source' },
    ]);
    const wrongType = await request(server())
      .post('/v1/pipelines')
      .send({
        ...spec,
        features: [{ kind: 'numeric', name: 'o', field: 'origin', transform: 'none' }],
      })
      .expect(400);
    expect((wrongType.body as ErrorBody).error.issues).toEqual([
      {
        path: 'features.0.field',
        message: '"origin" is a string field; a numeric feature needs number or integer',
      },
    ]);
    const badName = await request(server())
      .post('/v1/pipelines')
      .send({ ...spec, name: 'Bad.Name' })
      .expect(400);
    expect((badName.body as ErrorBody).error.issues?.[0]?.path).toBe('name');
    await request(server()).get('/v1/pipelines/delays').expect(404);

    const created = await request(server()).post('/v1/pipelines').send(spec).expect(201);
    expect(created.body).toMatchObject({
      name: 'delays',
      source: 'flights',
      fit: { status: 'idle' },
      versions: [],
    });
    await request(server()).post('/v1/pipelines').send(spec).expect(200);
    await request(server()).post('/v1/pipelines/delays/versions/1/materialize').expect(404);
  });

  it('fits version 1 with hand-checked statistics and output schema', async () => {
    const res = await request(server()).post('/v1/pipelines/delays/fit').expect(201);
    const version = pipelineVersionSchema.parse(res.body); // the answer keeps its contract
    expect(version).toMatchObject({
      pipeline: 'delays',
      version: 1,
      recordCount: 6,
      sourceSequence: 6,
    });
    const [distance, origin, hour, route] = version.snapshot.features;
    // distances 100..600: mean 350; squared deviations 2 x (250² + 150² + 50²) = 175000; / 6
    expect(distance).toMatchObject({ count: 6, missing: 0, mean: 350, min: 100, max: 600 });
    expect(distance?.std).toBeCloseTo(Math.sqrt(175_000 / 6), 10);
    expect(origin?.vocabulary).toEqual(['SFO', 'LAX']); // SFO 3, LAX 2, JFK 1, capped at 2
    expect(hour).toMatchObject({ count: 6 });
    expect(route).toMatchObject({ count: 6 });
    expect(version.snapshot.label).toEqual({ count: 6, positives: 3 }); // 20, 16, 60 are above 15
    expect(version.outputSchema).toEqual({
      formatVersion: 1,
      dense: [
        { name: 'distance', offset: 0, width: 1 },
        { name: 'origin', offset: 1, width: 3 },
      ],
      denseWidth: 4,
      ids: [
        { name: 'hour', cardinality: 24 },
        { name: 'route', cardinality: 32 },
      ],
      label: { kind: 'binary' },
    });
    expect(version.materialization.status).toBe('none');
    // PROGRESS_EVERY=2: a progress line every two records, then the end
    expect(logged('fit progress').map((e) => [e['processed'], e['total']])).toEqual([
      [2, 6],
      [4, 6],
      [6, 6],
    ]);
    expect(logged('fit done')).toMatchObject([{ pipeline: 'delays', version: 1, records: 6 }]);
    const view = pipelineViewSchema.parse(
      (await request(server()).get('/v1/pipelines/delays').expect(200)).body,
    );
    expect(view.versions).toMatchObject([{ version: 1, recordCount: 6, materialization: 'none' }]);
  });

  it('materializes one example per record, split by id hash, equal to the pure encoder', async () => {
    const res = await request(server())
      .post('/v1/pipelines/delays/versions/1/materialize')
      .expect(200);
    const version = res.body as PipelineVersion;
    const validation = flights.filter(
      (f) => splitOf(String(f['_id']), 0.5) === 'validation',
    ).length;
    expect(version.materialization).toMatchObject({
      status: 'done',
      processed: 6,
      stream: subjects.examplesStream('delays'),
      counts: { train: 6 - validation, validation, rejected: 0, duplicates: 0 },
    });
    const encoder = new PipelineEncoder(pipelineSnapshotOf(version));
    const check = async (run: number) => {
      const examples = await readExamples(1);
      expect(examples).toHaveLength(6);
      for (const flight of flights) {
        const id = String(flight['_id']);
        const message = examples.find((e) => e.msgId === `1.${run}:${id}`);
        expect(message?.subject).toBe(subjects.examples('delays', 1, splitOf(id, 0.5)));
        expect(message?.recordId).toBe(id);
        const example = decodeExample(message!.bytes);
        expect(example.dense.length).toBe(version.outputSchema.denseWidth);
        expect(example.ids.length).toBe(version.outputSchema.ids.length);
        expect(Array.from(message!.bytes)).toEqual(
          Array.from(encodeExample(encoder.encode(flight))),
        );
      }
    };
    await check(1);
    expect(logged('materialize progress').map((e) => e['processed'])).toEqual([2, 4, 6]);
    // Again: the version's old examples are replaced, not doubled.
    const again = await request(server())
      .post('/v1/pipelines/delays/versions/1/materialize')
      .expect(200);
    expect((again.body as PipelineVersion).materialization).toMatchObject({
      run: 2,
      counts: { train: 6 - validation, validation, rejected: 0, duplicates: 0 },
    });
    await check(2);
  });

  it('refits as version 2 over newly stored records; version 1 is unchanged', async () => {
    await storeRaw([
      { _id: '7', date: T, delay: 30, distance: 350, origin: 'JFK', destination: 'LAX' },
    ]);
    const v2 = (await request(server()).post('/v1/pipelines/delays/fit').expect(201))
      .body as PipelineVersion;
    expect(v2).toMatchObject({ version: 2, recordCount: 7, sourceSequence: 7 });
    expect(v2.snapshot.features[0]?.mean).toBe(350); // 350 added to a mean of 350
    expect(v2.snapshot.features[1]?.vocabulary).toEqual(['SFO', 'JFK']); // JFK 2 ties LAX 2: "JFK" < "LAX"
    const v1 = (await request(server()).get('/v1/pipelines/delays/versions/1').expect(200))
      .body as PipelineVersion;
    expect(v1).toMatchObject({ recordCount: 6, materialization: { status: 'done' } });
    await request(server()).get('/v1/pipelines/delays/versions/3').expect(404);
    await request(server()).get('/v1/pipelines/delays/versions/zero').expect(400);
  });

  it('answers pipelineDescribe and pipelinePrepare over NATS with plain JSON', async () => {
    const described = decodeJson(
      (
        await nc.request(
          subjects.control(ControlPattern.pipelineDescribe),
          encodeJson({ pipeline: 'delays' }),
          { timeout: 10_000 },
        )
      ).data,
    ) as PipelineVersion;
    expect(described).toMatchObject({ pipeline: 'delays', version: 2 });
    const missing = decodeJson(
      (
        await nc.request(
          subjects.control(ControlPattern.pipelineDescribe),
          encodeJson({ pipeline: 'none' }),
          { timeout: 10_000 },
        )
      ).data,
    ) as ErrorBody;
    expect(missing.error.code).toBe('NOT_FOUND');

    const prepared = decodeJson(
      (
        await nc.request(
          subjects.control(ControlPattern.pipelinePrepare),
          encodeJson({ pipeline: 'delays' }),
          { timeout: 60_000 },
        )
      ).data,
    ) as PipelinePrepareReply;
    expect(pipelinePrepareReplySchema.parse(prepared)).toEqual(prepared);
    expect(prepared).toMatchObject({
      pipeline: 'delays',
      version: 2,
      stream: subjects.examplesStream('delays'),
      subjects: {
        train: subjects.examples('delays', 2, 'train'),
        validation: subjects.examples('delays', 2, 'validation'),
      },
    });
    expect(prepared.counts.train + prepared.counts.validation).toBe(7);
    expect(await readExamples(2)).toHaveLength(7);
  });

  it('fails a fit on a record it cannot encode, naming the record and field', async () => {
    await storeRaw([
      { _id: '8', date: T, delay: 1, distance: null, origin: 'SFO', destination: 'LAX' },
    ]);
    const res = await request(server()).post('/v1/pipelines/delays/fit').expect(400);
    expect((res.body as ErrorBody).error.message).toBe(
      'record "8": field "distance" (distance): value is missing and the feature has no "missing" strategy',
    );
    const view = (await request(server()).get('/v1/pipelines/delays').expect(200))
      .body as PipelineView;
    expect(view.fit.status).toBe('failed');
    expect(view.versions).toHaveLength(2);
  });
});

function pipelineSnapshotOf(version: PipelineVersion) {
  return { ...version.snapshot, spec: pipelineSpecSchema.parse(version.snapshot.spec) };
}
