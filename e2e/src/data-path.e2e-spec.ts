import {
  decodeExample,
  PipelineVersion,
  RecordHeader,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import { flightsPipelineSpec, flightsSourceDeclaration } from '@dln/features';
import { connectNats, jetStreamManagerOf, jetStreamOf, NatsConnection } from '@dln/messaging';
import {
  deleteStreamsOfRoot,
  loadFlights,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
} from '@dln/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The data path of issue 2 as a user runs it: ingest and feature built in dist/ and started as
// separate processes, talked to only through REST and NATS, with the real flights data.
const flights = loadFlights();

async function call(method: string, url: string, body?: string, contentType = 'application/json') {
  const res = await fetch(url, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

describe('data path: ingest -> raw stream -> features -> examples, as separate processes', () => {
  const root = uniqueRoot('data_path_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-data-path-'));
  let ingest: ServiceProcess;
  let feature: ServiceProcess;
  let nc: NatsConnection;

  const storedCount = async (source: string): Promise<number> => {
    const res = await call('GET', `${ingest.url}/v1/sources/${source}`);
    expect(res.status).toBe(200);
    return (res.body as unknown as SourceDescription).stored.records;
  };
  const ingestJson = (source: string, records: unknown[], query: string) =>
    call('POST', `${ingest.url}/v1/sources/${source}/records?${query}`, JSON.stringify(records));

  beforeAll(async () => {
    const env = {
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    [ingest, feature] = await Promise.all([
      ServiceProcess.start({ app: 'ingest', env }),
      ServiceProcess.start({ app: 'feature', env }),
    ]);
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'data-path-e2e' });
  });

  afterAll(async () => {
    await Promise.all([ingest?.stop(), feature?.stop()]);
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores all 20,000 flights once, even when 1,000 are sent again with the same ids', async () => {
    const declared = await call(
      'POST',
      `${ingest.url}/v1/sources`,
      JSON.stringify(flightsSourceDeclaration('flights')),
    );
    expect(declared.status).toBe(201);
    for (let offset = 0; offset < flights.length; offset += 5_000) {
      const res = await ingestJson(
        'flights',
        flights.slice(offset, offset + 5_000),
        `idFrom=row&idOffset=${offset}`,
      );
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      expect(res.body['accepted']).toBe(5_000);
    }
    expect(await storedCount('flights')).toBe(20_000);
    const again = await ingestJson(
      'flights',
      flights.slice(7_000, 8_000),
      'idFrom=row&idOffset=7000',
    );
    expect(again.status).toBe(200);
    expect(again.body['duplicates']).toBe(1_000);
    expect(await storedCount('flights')).toBe(20_000);
  });

  it('reports each broken CSV row with its line and stores the good rows; atomic stores nothing', async () => {
    await call(
      'POST',
      `${ingest.url}/v1/sources`,
      JSON.stringify(flightsSourceDeclaration('csvflights')),
    );
    const csv = [
      'date,delay,distance,origin,destination',
      '2001/01/01 06:55,5,500,SFO,LAX',
      '2001/01/01 07:10,not-a-number,300,SFO,SEA',
      '2001/13/45 99:99,1,200,SFO,PDX',
      '2001/01/02 08:00,-3,700,LAX,SFO',
      '2001/01/02 09:00,4,NaN,LAX,SEA',
      '',
    ].join('\n');
    const atomic = await call(
      'POST',
      `${ingest.url}/v1/sources/csvflights/records?idFrom=row&atomic=true`,
      csv,
      'text/csv',
    );
    expect(atomic.status).toBe(422);
    expect(await storedCount('csvflights')).toBe(0);

    const res = await call(
      'POST',
      `${ingest.url}/v1/sources/csvflights/records?idFrom=row`,
      csv,
      'text/csv',
    );
    expect(res.status).toBe(200);
    expect(res.body['accepted']).toBe(2);
    const rejected = res.body['rejected'] as { line?: number; field?: string; reason: string }[];
    expect(rejected.map((r) => [r.line, r.field])).toEqual([
      [3, 'delay'],
      [4, 'date'],
      [6, 'distance'],
    ]);
    for (const r of rejected) expect(r.reason.length).toBeGreaterThan(5);
    expect(await storedCount('csvflights')).toBe(2);
  });

  it('answers bad input with a precise 4xx and stores nothing', async () => {
    const before = await storedCount('flights');
    const url = `${ingest.url}/v1/sources/flights/records?idFrom=row&idOffset=900000`;
    expect((await call('POST', url, '[{"date": ')).status).toBe(400);
    expect((await call('POST', url, '<flights/>', 'application/xml')).status).toBe(415);
    expect((await call('POST', `${ingest.url}/v1/sources/nope/records`, '[]')).status).toBe(404);
    expect((await call('POST', `${ingest.url}/v1/sources/Bad.Name/records`, '[]')).status).toBe(
      400,
    );
    const invalid = await call(
      'POST',
      url,
      JSON.stringify([{ date: 'yesterday', delay: 1, distance: 1, origin: 'A', destination: 'B' }]),
    );
    expect(invalid.status).toBe(422);
    const nan = await call(
      'POST',
      url,
      '[{"date":"2001/01/01 06:55","delay":NaN,"distance":1,"origin":"A","destination":"B"}]',
    );
    expect(nan.status).toBe(400);
    const ndjsonNaN = await call(
      'POST',
      url,
      '{"date":"2001/01/01 06:55","delay":1e999,"distance":1,"origin":"A","destination":"B"}\n',
      'application/x-ndjson',
    );
    expect(ndjsonNaN.status).toBe(422);
    expect(await storedCount('flights')).toBe(before);
  });

  it('fits and materializes one example per stored record, of the width the output schema states', async () => {
    const declared = await call(
      'POST',
      `${feature.url}/v1/pipelines`,
      JSON.stringify(flightsPipelineSpec('flights', 'flights')),
    );
    expect(declared.status).toBe(201);
    const fit = await call('POST', `${feature.url}/v1/pipelines/flights/fit`);
    expect(fit.status).toBe(201);
    const fitted = fit.body as unknown as PipelineVersion;
    expect(fitted.recordCount).toBe(20_000);
    const done = await call(
      'POST',
      `${feature.url}/v1/pipelines/flights/versions/${fitted.version}/materialize`,
    );
    expect(done.status).toBe(200);
    const version = done.body as unknown as PipelineVersion;
    const { counts } = version.materialization;
    expect(counts.train + counts.validation).toBe(20_000);
    expect(counts.rejected).toBe(0);

    const jsm = await jetStreamManagerOf(nc);
    const stream = subjects.examplesStream('flights');
    expect((await jsm.streams.info(stream)).state.messages).toBe(20_000);
    const consumer = await jetStreamOf(nc).consumers.get(stream);
    const ids = new Set<string>();
    let seen = 0;
    const messages = await consumer.consume();
    for await (const m of messages) {
      const example = decodeExample(m.data);
      expect(example.dense.length).toBe(version.outputSchema.denseWidth);
      expect(example.ids.length).toBe(version.outputSchema.ids.length);
      expect(example.label === 0 || example.label === 1).toBe(true);
      ids.add(m.headers?.get(RecordHeader.recordId) ?? '');
      seen += 1;
      if (m.info.pending === 0) break;
    }
    expect(seen).toBe(20_000);
    expect(ids.size).toBe(20_000);
  });
});
