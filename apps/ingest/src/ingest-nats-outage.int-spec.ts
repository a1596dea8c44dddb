import 'reflect-metadata';
import { ErrorBody, IngestResult, SourceDescription } from '@dln/contracts';
import { createServiceApp, JsonLogger } from '@dln/platform';
import { PrivateNatsServer, uniqueRoot, waitFor } from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIngestConfig } from './ingest.config';
import { INGEST_TEXT_CONTENT_TYPES, IngestModule } from './ingest.module';

// Kills NATS, so it runs its own nats-server; SQLite only (the database plays no part here).
describe('ingest while NATS is down', () => {
  const root = uniqueRoot('ingest_outage');
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-ingest-outage-'));
  let nats: PrivateNatsServer;
  let app: NestFastifyApplication;
  const records = (offset: number) =>
    Array.from({ length: 10 }, (_, i) => ({ key: `k${offset + i}`, n: offset + i }));

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    const config = loadIngestConfig({
      NATS_URL: nats.url,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      SOURCE_CACHE_MS: '60000',
    });
    app = await createServiceApp(IngestModule.forRoot(config), {
      service: 'ingest',
      config,
      textContentTypes: INGEST_TEXT_CONTENT_TYPES,
      logger: new JsonLogger('ingest-test', 'error', () => undefined),
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app?.close();
    await nats?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('tells the client (503, retryable) and stores a resend once after NATS returns', async () => {
    const server = app.getHttpServer();
    const source = {
      name: 'keyed',
      fields: [
        { name: 'key', type: 'string' },
        { name: 'n', type: 'integer' },
      ],
      idField: 'key',
    };
    await request(server).post('/v1/sources').send(source).expect(201);
    await request(server).post('/v1/sources/keyed/records').send(records(0)).expect(200);

    await nats.stop();
    const refused = await request(server)
      .post('/v1/sources/keyed/records')
      .send(records(10))
      .expect(503);
    expect((refused.body as ErrorBody).error).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
    expect((refused.body as ErrorBody).error.message).toMatch(
      /resending with the same ids is safe/,
    );

    await nats.resume();
    const again = await waitFor(
      'ingest to work again',
      async () => {
        const res = await request(server).post('/v1/sources/keyed/records').send(records(10));
        return res.status === 200 ? (res.body as IngestResult) : undefined;
      },
      30_000,
      250,
    );
    expect(again.accepted).toBe(10);
    const described = await request(server).get('/v1/sources/keyed').expect(200);
    expect((described.body as SourceDescription).stored.records).toBe(20);
  });
});
