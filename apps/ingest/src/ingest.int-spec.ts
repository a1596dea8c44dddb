import 'reflect-metadata';
import {
  DeadLetter,
  ErrorBody,
  IngestAck,
  RecordHeader,
  SourceDeclarationInput,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  encodeJson,
  jetStreamManagerOf,
  natsHeaders,
  NatsConnection,
} from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import { createServiceApp, JsonLogger } from '@dln/platform';
import { fnv1a32 } from '@dln/records';
import { deleteStreamsOfRoot, TEST_DATABASES, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngestConfig } from './ingest.config';
import { INGEST_TEXT_CONTENT_TYPES, IngestModule } from './ingest.module';

const BODY_LIMIT = 64 * 1024;
const silent = new JsonLogger('ingest-test', 'error', () => undefined);

const flights: SourceDeclarationInput = {
  name: 'flights',
  fields: [
    { name: 'date', type: 'timestamp' },
    { name: 'delay', type: 'integer' },
    { name: 'distance', type: 'number', nullable: true },
    { name: 'origin', type: 'string' },
  ],
};
const keyed: SourceDeclarationInput = {
  name: 'keyed',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'n', type: 'number' },
    { name: 'city', type: 'string' },
  ],
  idField: 'key',
  partitionKey: 'city',
  partitions: 4,
  duplicateWindowSeconds: 60,
  retention: { maxMessages: 10_000, maxAgeSeconds: 3600 },
};

describe.each(TEST_DATABASES)('ingest service on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`ingest_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-ingest-'));
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  const server = () => app.getHttpServer();
  const stored = async (name: string) =>
    ((await request(server()).get(`/v1/sources/${name}`).expect(200)).body as SourceDescription)
      .stored.records;

  beforeAll(async () => {
    const config = loadIngestConfig({
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      DB_SCHEMA: root,
      INGEST_MAX_BODY_BYTES: String(BODY_LIMIT),
      SOURCE_CACHE_MS: '0',
      INGEST_PUBLISH_IN_FLIGHT: '16',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    });
    app = await createServiceApp(IngestModule.forRoot(config), {
      service: 'ingest',
      config,
      bodyLimitBytes: config.INGEST_MAX_BODY_BYTES,
      textContentTypes: INGEST_TEXT_CONTENT_TYPES,
      logger: silent,
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'ingest-test-client' });
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

  it('declares sources with their raw streams, updates them, and refuses bad declarations', async () => {
    const created = await request(server()).post('/v1/sources').send(flights).expect(201);
    expect(created.body).toMatchObject({
      idField: '_id',
      stream: subjects.rawStream('flights'),
      subjects: {
        ingest: subjects.ingest('flights'),
        raw: subjects.rawAll('flights'),
        deadLetter: subjects.deadLetter('flights'),
      },
      stored: { records: 0, bytes: 0 },
      declaration: { partitions: 1, duplicateWindowSeconds: 120, unknownFields: 'reject' },
    });
    await request(server()).post('/v1/sources').send(keyed).expect(201);
    await request(server()).post('/v1/sources').send(keyed).expect(200);
    const info = await (await jetStreamManagerOf(nc)).streams.info(subjects.rawStream('keyed'));
    expect(info.config).toMatchObject({
      subjects: [subjects.rawAll('keyed')],
      max_msgs: 10_000,
      max_age: 3600e9,
      duplicate_window: 60e9,
    });

    const bad = await request(server())
      .post('/v1/sources')
      .send({ ...flights, name: 'Bad.Name', idField: 'nope' })
      .expect(400);
    expect((bad.body as ErrorBody).error.issues?.map((issue) => issue.path)).toEqual([
      'name',
      'idField',
    ]);
    await request(server())
      .post('/v1/sources')
      .set('content-type', 'application/json')
      .send('{"name":')
      .expect(400);

    const list = await request(server()).get('/v1/sources').expect(200);
    expect(
      (list.body as { sources: SourceDescription[] }).sources.map((s) => s.declaration.name),
    ).toEqual(['flights', 'keyed']);
    await request(server()).get('/v1/sources/nothing').expect(404);
    expect((await request(server()).get('/v1/sources/BAD!').expect(400)).body.error.code).toBe(
      'INVALID_REQUEST',
    );
  });

  it('stores JSON records with row ids once, counting resends as duplicates', async () => {
    const records = [
      { date: '2001/01/01 00:47', delay: 66, distance: 1750, origin: 'DTW' },
      { date: '2001-01-01T01:10:00Z', delay: 95, distance: null, origin: 'HNL' },
      { date: 978_311_640_000, delay: -5, origin: 'LAS' },
    ];
    const first = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=0')
      .send(records)
      .expect(200);
    expect(first.body).toEqual({
      accepted: 3,
      stored: 3,
      duplicates: 0,
      rejectedCount: 0,
      rejected: [],
    });
    const again = await request(server())
      .post('/v1/sources/flights/records?idFrom=row')
      .send(records)
      .expect(200);
    expect(again.body).toMatchObject({ accepted: 3, stored: 0, duplicates: 3 });
    const shifted = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=3')
      .send(records.slice(0, 1))
      .expect(200);
    expect(shifted.body).toMatchObject({ stored: 1, duplicates: 0 });
    expect(await stored('flights')).toBe(4);

    const jsm = await jetStreamManagerOf(nc);
    const message = await jsm.streams.getMessage(subjects.rawStream('flights'), { seq: 1 });
    expect(message?.subject).toBe(subjects.raw('flights', 0));
    expect(message?.header.get(RecordHeader.msgId)).toBe('flights:0');
    expect(message?.header.get(RecordHeader.recordId)).toBe('0');
    expect(message?.json()).toEqual({
      date: 978_310_020_000,
      delay: 66,
      distance: 1750,
      origin: 'DTW',
      _id: '0',
    });
    const second = await jsm.streams.getMessage(subjects.rawStream('flights'), { seq: 2 });
    expect(second?.json()).toEqual({
      date: 978_311_400_000,
      delay: 95,
      distance: null,
      origin: 'HNL',
      _id: '1',
    });
  });

  it('stores the valid records, reports the others, and answers 422 when none or (atomic) any is invalid', async () => {
    const before = await stored('flights');
    const mixed = [
      { date: '2001/01/02 10:00', delay: 1, origin: 'SFO' },
      { date: '2001/01/02 10:00', delay: 1.5, origin: 'SFO' },
      { date: 'yesterday', delay: 1, origin: 'SFO' },
      { date: '2001/01/02 10:00', delay: 1, origin: 'SFO', gate: 'A1' },
      'not an object',
    ];
    const partial = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=100')
      .send(mixed)
      .expect(200);
    expect(partial.body).toEqual({
      accepted: 1,
      stored: 1,
      duplicates: 0,
      rejectedCount: 4,
      rejected: [
        { index: 1, field: 'delay', reason: 'must be an integer (within ±2^53)' },
        { index: 2, field: 'date', reason: 'must be ISO 8601 or "YYYY/MM/DD HH:MM[:SS]"' },
        { index: 3, field: 'gate', reason: 'is not a declared field' },
        { index: 4, field: null, reason: 'a record must be a JSON object' },
      ],
    });
    const none = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=200')
      .send(mixed.slice(1))
      .expect(422);
    expect(none.body).toMatchObject({
      accepted: 0,
      rejectedCount: 4,
      error: { code: 'ALL_RECORDS_REJECTED' },
    });
    const atomic = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=300&atomic=true')
      .send(mixed)
      .expect(422);
    expect(atomic.body).toMatchObject({
      accepted: 0,
      stored: 0,
      rejectedCount: 4,
      error: { code: 'ALL_RECORDS_REJECTED' },
    });
    await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=400')
      .send([])
      .expect(422);
    expect(await stored('flights')).toBe(before + 1);
  });

  it('reads CSV with broken rows and NaN, reporting each bad row by line', async () => {
    const before = await stored('flights');
    const csv = [
      'date,delay,distance,origin',
      '2001/01/03 06:55,5,100,"DEN"',
      '2001/01/03 07:00,NaN,100,DEN',
      '2001/01/03 07:05,6,Infinity,DEN',
      '2001/01/03 07:10,7,,"Salt Lake ""City"""',
      '2001/01/03 07:15,8',
      '2001/01/03 07:20,9,1,x"y',
      '2001/01/03 07:25,,1,DEN',
    ].join('\r\n');
    const res = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=500')
      .set('content-type', 'text/csv')
      .send(csv)
      .expect(200);
    expect(res.body).toEqual({
      accepted: 2,
      stored: 2,
      duplicates: 0,
      rejectedCount: 5,
      rejected: [
        { index: 1, line: 3, field: 'delay', reason: 'must be a finite number' },
        { index: 2, line: 4, field: 'distance', reason: 'must be a finite number' },
        { index: 4, line: 6, field: null, reason: 'has 2 fields, the header has 4' },
        { index: 5, line: 7, field: null, reason: 'quote inside an unquoted field' },
        { index: 6, line: 8, field: 'delay', reason: 'is required' },
      ],
    });
    const atomic = await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=500&atomic=true')
      .set('content-type', 'text/csv; charset=utf-8')
      .send(csv)
      .expect(422);
    expect(atomic.body.rejectedCount).toBe(5);
    expect(await stored('flights')).toBe(before + 2);
    const jsm = await jetStreamManagerOf(nc);
    const last = await jsm.streams.getMessage(subjects.rawStream('flights'), {
      last_by_subj: subjects.raw('flights', 0),
    });
    expect(last?.json()).toEqual({
      date: Date.UTC(2001, 0, 3, 7, 10),
      delay: 7,
      distance: null,
      origin: 'Salt Lake "City"',
      _id: '503',
    });
  });

  it('reads NDJSON and takes ids from the id field, partitioned by the key', async () => {
    const ndjson = [
      '{"key":"a","n":1,"city":"Oslo"}',
      '',
      '{"key":"b","n":2,"city":"Rome"}',
      '{"key":"c","n":',
      '{"key":"a","n":9,"city":"Oslo"}',
    ].join('\n');
    const res = await request(server())
      .post('/v1/sources/keyed/records')
      .set('content-type', 'application/x-ndjson')
      .send(ndjson)
      .expect(200);
    expect(res.body).toMatchObject({ accepted: 3, stored: 2, duplicates: 1, rejectedCount: 1 });
    expect(res.body.rejected[0]).toMatchObject({
      index: 2,
      line: 4,
      field: null,
      reason: expect.stringMatching(/^malformed JSON/),
    });
    const jsm = await jetStreamManagerOf(nc);
    const rome = await jsm.streams.getMessage(subjects.rawStream('keyed'), {
      last_by_subj: subjects.raw('keyed', fnv1a32('Rome') % 4),
    });
    expect(rome?.json()).toEqual({ key: 'b', n: 2, city: 'Rome' });
    expect(rome?.header.get(RecordHeader.msgId)).toBe('keyed:b');
  });

  it('refuses bad requests precisely: type, size, JSON, names, unknown source, missing id rule', async () => {
    const before = await stored('flights');
    const url = '/v1/sources/flights/records?idFrom=row&idOffset=900';
    expect(
      (await request(server()).post(url).set('content-type', 'text/plain').send('a').expect(415))
        .body.error.code,
    ).toBe('UNSUPPORTED_MEDIA_TYPE');
    await request(server())
      .post(url)
      .set('content-type', 'application/xml')
      .send('<a/>')
      .expect(415);
    const big = Array.from({ length: 2_000 }, (_, i) => ({
      date: '2001/01/04 00:00',
      delay: i,
      origin: 'x'.repeat(30),
    }));
    expect((await request(server()).post(url).send(big).expect(413)).body.error.code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    const bigCsv =
      'date,delay,origin\n' + big.map((r) => `${r.date},${r.delay},${r.origin}`).join('\n');
    await request(server()).post(url).set('content-type', 'text/csv').send(bigCsv).expect(413);
    await request(server())
      .post(url)
      .set('content-type', 'application/json')
      .send('[{"date":"2001/01/04 00:00","delay":NaN,"origin":"x"}]')
      .expect(400);
    await request(server())
      .post(url)
      .set('content-type', 'application/json')
      .send('[{"date":')
      .expect(400);
    await request(server())
      .post(url)
      .set('content-type', 'application/json')
      .send('42')
      .expect(400);
    await request(server())
      .post('/v1/sources/nothing/records?idFrom=row')
      .send([{ a: 1 }])
      .expect(404);
    await request(server())
      .post('/v1/sources/Bad.Name/records?idFrom=row')
      .send([{ a: 1 }])
      .expect(400);
    const noId = await request(server())
      .post('/v1/sources/flights/records')
      .send([{ date: '2001/01/04 00:00', delay: 1, origin: 'x' }])
      .expect(400);
    expect(noId.body.error.message).toMatch(/idFrom=row/);
    await request(server())
      .post('/v1/sources/flights/records?idFrom=row&idOffset=-1')
      .send([])
      .expect(400);
    await request(server())
      .post('/v1/sources/flights/records?idFrom=row&bogus=1')
      .send([])
      .expect(400);
    expect(await stored('flights')).toBe(before);
  });

  it('ingests over NATS with a typed ack and dead-letters the refused records', async () => {
    const letters: DeadLetter[] = [];
    const sub = nc.subscribe(subjects.deadLetter('flights'), {
      callback: (_err, msg) => {
        letters.push(decodeJson(msg.data) as DeadLetter);
      },
    });
    await nc.flush();
    const before = await stored('flights');
    const headers = natsHeaders();
    headers.set(RecordHeader.idFrom, 'row');
    headers.set(RecordHeader.idOffset, '1000');
    const records = [
      { date: '2001/01/05 00:00', delay: 1, origin: 'ABQ' },
      { date: '2001/01/05 00:00', delay: 'late', origin: 'ABQ' },
      { date: '2001/01/05 00:00', delay: 2, origin: 'ABQ' },
    ];
    const reply = await nc.request(subjects.ingest('flights'), encodeJson(records), {
      headers,
      timeout: 10_000,
    });
    const ack = decodeJson(reply.data) as IngestAck;
    expect(ack).toEqual({
      accepted: 2,
      stored: 2,
      duplicates: 0,
      rejectedCount: 1,
      rejected: [{ index: 1, field: 'delay', reason: 'must be a number, got string' }],
      deadLettered: 1,
    });
    const again = decodeJson(
      (
        await nc.request(subjects.ingest('flights'), encodeJson(records), {
          headers,
          timeout: 10_000,
        })
      ).data,
    ) as IngestAck;
    expect(again).toMatchObject({ accepted: 2, stored: 0, duplicates: 2, deadLettered: 1 });
    headers.set(RecordHeader.atomic, 'true');
    headers.set(RecordHeader.idOffset, '2000');
    const atomic = decodeJson(
      (
        await nc.request(subjects.ingest('flights'), encodeJson(records), {
          headers,
          timeout: 10_000,
        })
      ).data,
    ) as IngestAck;
    expect(atomic).toMatchObject({ accepted: 0, rejectedCount: 1, deadLettered: 1 });
    const one = decodeJson(
      (
        await nc.request(subjects.ingest('keyed'), encodeJson({ key: 'z', n: 1, city: 'Lima' }), {
          timeout: 10_000,
        })
      ).data,
    ) as IngestAck;
    expect(one).toMatchObject({ accepted: 1, stored: 1 });

    await nc.flush();
    const deadline = Date.now() + 5_000;
    while (letters.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    expect(letters).toHaveLength(3);
    expect(letters[0]).toMatchObject({
      source: 'flights',
      index: 1,
      field: 'delay',
      record: records[1],
    });
    expect(await stored('flights')).toBe(before + 2);

    const errors = [
      await nc.request(subjects.ingest('nothing'), encodeJson([{}]), { timeout: 10_000 }),
      await nc.request(subjects.ingest('flights'), encodeJson([{}]), { timeout: 10_000 }),
      await nc.request(subjects.ingest('flights'), new TextEncoder().encode('[{'), {
        timeout: 10_000,
      }),
    ].map((msg) => (decodeJson(msg.data) as ErrorBody).error.code);
    expect(errors).toEqual(['NOT_FOUND', 'INVALID_REQUEST', 'INVALID_REQUEST']);
  });

  it('shares the publish window among concurrent REST and NATS requests', async () => {
    const before = await stored('flights');
    const batch = (offset: number) =>
      Array.from({ length: 300 }, (_, i) => ({
        date: '2001/01/06 00:00',
        delay: offset + i,
        origin: 'CON',
      }));
    const rest = [0, 1, 2].map((k) =>
      request(server())
        .post(`/v1/sources/flights/records?idFrom=row&idOffset=${10_000 + k * 300}`)
        .send(batch(k)),
    );
    const nats = [3, 4, 5].map((k) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.idFrom, 'row');
      headers.set(RecordHeader.idOffset, String(10_000 + k * 300));
      return nc.request(subjects.ingest('flights'), encodeJson(batch(k)), {
        headers,
        timeout: 30_000,
      });
    });
    const restAnswers = await Promise.all(rest);
    const natsAnswers = await Promise.all(nats);
    for (const res of restAnswers) expect(res.body).toMatchObject({ accepted: 300, stored: 300 });
    for (const msg of natsAnswers)
      expect(decodeJson(msg.data)).toMatchObject({ accepted: 300, stored: 300 });
    expect(await stored('flights')).toBe(before + 1_800);
  });

  it('describes sources over NATS and counts records in its metrics', async () => {
    const reply = await nc.request(
      subjects.control('ingest.sources.describe'),
      encodeJson({ name: 'keyed' }),
      { timeout: 10_000 },
    );
    const description = decodeJson(reply.data) as SourceDescription;
    expect(description).toMatchObject({
      idField: 'key',
      stream: subjects.rawStream('keyed'),
      stored: { records: 3 },
    });
    const missing = await nc.request(
      subjects.control('ingest.sources.describe'),
      encodeJson({ name: 'nothing' }),
      { timeout: 10_000 },
    );
    expect((decodeJson(missing.data) as ErrorBody).error.code).toBe('NOT_FOUND');
    const metrics = (await request(server()).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(
      /dln_ingest_records_accepted_total\{[^}]*source="flights"[^}]*transport="rest"[^}]*\} \d+/,
    );
    expect(metrics).toMatch(
      /dln_ingest_records_duplicate_total\{[^}]*source="keyed"[^}]*transport="rest"[^}]*\} 1/,
    );
    expect(metrics).toMatch(
      /dln_ingest_records_dead_lettered_total\{[^}]*source="flights"[^}]*\} 3/,
    );
  });
});
