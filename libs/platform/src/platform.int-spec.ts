import 'reflect-metadata';
import { ErrorBody, NotFoundError, parseInput, Subjects } from '@dln/contracts';
import { connectNats, decodeJson, encodeJson, NatsConnection } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import { TEST_DATABASES, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import {
  Body,
  Controller,
  DynamicModule,
  Get,
  Injectable,
  Module,
  OnModuleInit,
  Param,
  Post,
} from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnvSchema, loadConfig } from './config';
import { createServiceApp } from './bootstrap';
import { HealthService } from './health';
import { JsonLogger } from './json-logger';
import { PlatformModule } from './platform.module';

const echoSchema = z.object({ text: z.string().min(1), times: z.number().int().positive() });

@Controller()
class EchoController {
  @Post('echo')
  echo(@Body() body: unknown): { echoed: string } {
    const input = parseInput(echoSchema, body, 'echo request');
    return { echoed: input.text.repeat(input.times) };
  }

  @Get('things/:name')
  thing(@Param('name') name: string): never {
    throw new NotFoundError('thing', name);
  }

  @MessagePattern('test.echo')
  echoOverNats(@Payload() payload: unknown): { echoed: string } {
    return this.echo(payload);
  }
}

function testModule(
  config: ReturnType<typeof loadConfig<typeof baseEnvSchema>>,
  database?: { url?: string; dir: string; schema: string },
): DynamicModule {
  @Module({ controllers: [EchoController] })
  class TestModule {}
  return {
    module: TestModule,
    imports: [
      PlatformModule.forRoot({
        service: 'platform-test',
        config,
        ...(database
          ? {
              database: {
                databaseUrl: database.url,
                dataDir: database.dir,
                schema: database.schema,
                entities: [],
                migrations: [],
              },
            }
          : {}),
      }),
    ],
  };
}

const silent = new JsonLogger('platform-test', 'error', () => undefined);

describe.each(TEST_DATABASES)('platform on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`platform_${kind}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-platform-'));
  let app: NestFastifyApplication;
  let nc: NatsConnection;

  beforeAll(async () => {
    const config = loadConfig(baseEnvSchema, { NATS_URL: TEST_NATS_URL, SUBJECT_ROOT: root });
    app = await createServiceApp(
      testModule(config, { url: databaseUrl, dir: dataDir, schema: root }),
      {
        service: 'platform-test',
        config,
        bodyLimitBytes: 1024,
        logger: silent,
      },
    );
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'platform-test-client' });
  });

  afterAll(async () => {
    await nc?.close();
    await app?.close();
    if (databaseUrl) await dropPostgresSchema(databaseUrl, root);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reports NATS and its database healthy', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.checks.nats.ok).toBe(true);
    expect(res.body.checks.database).toEqual({
      ok: true,
      detail: kind === 'sqlite' ? 'better-sqlite3' : 'postgres',
    });
  });

  it('answers NATS requests with plain JSON under the subject root', async () => {
    const subject = `${new Subjects(root).root}.test.echo`;
    const reply = await nc.request(subject, encodeJson({ text: 'ab', times: 2 }), {
      timeout: 5_000,
    });
    expect(decodeJson(reply.data)).toEqual({ echoed: 'abab' });
  });

  it('answers an invalid NATS request with an error body naming the field', async () => {
    const reply = await nc.request(`${root}.test.echo`, encodeJson({ text: 'ab', times: 0 }), {
      timeout: 5_000,
    });
    const body = decodeJson(reply.data) as ErrorBody;
    expect(body.error.code).toBe('INVALID_REQUEST');
    expect(body.error.issues).toEqual([
      { path: 'times', message: expect.stringMatching(/>0|greater|positive/i) },
    ]);
    const malformed = await nc.request(`${root}.test.echo`, new TextEncoder().encode('{oops'), {
      timeout: 5_000,
    });
    expect((decodeJson(malformed.data) as ErrorBody).error.message).toMatch(/not valid JSON/);
  });

  it('maps REST errors to precise statuses and bodies', async () => {
    const server = app.getHttpServer();
    await request(server)
      .post('/echo')
      .send({ text: 'x', times: 3 })
      .expect(201, { echoed: 'xxx' });
    const invalid = await request(server).post('/echo').send({ text: '', times: 1 }).expect(400);
    expect(invalid.body.error.issues[0].path).toBe('text');
    const malformed = await request(server)
      .post('/echo')
      .set('content-type', 'application/json')
      .send('{"text":')
      .expect(400);
    expect(malformed.body.error.code).toBe('INVALID_REQUEST');
    const tooLarge = await request(server)
      .post('/echo')
      .send({ text: 'y'.repeat(2_000), times: 1 })
      .expect(413);
    expect(tooLarge.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const wrongType = await request(server)
      .post('/echo')
      .set('content-type', 'application/xml')
      .send('<a/>')
      .expect(415);
    expect(wrongType.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const missing = await request(server).get('/things/zebra').expect(404);
    expect(missing.body.error.message).toBe('thing "zebra" not found');
  });
});

describe('platform with an API key', () => {
  const root = uniqueRoot('platform_key');
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const config = loadConfig(baseEnvSchema, {
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      API_KEY: 'secret-key-123',
    });
    app = await createServiceApp(testModule(config), {
      service: 'platform-test',
      config,
      logger: silent,
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('refuses REST calls without the key and leaves /health open', async () => {
    const server = app.getHttpServer();
    const refused = await request(server).post('/echo').send({ text: 'x', times: 1 }).expect(401);
    expect(refused.body.error.code).toBe('UNAUTHORIZED');
    await request(server)
      .post('/echo')
      .set('x-api-key', 'wrong-key-000')
      .send({ text: 'x', times: 1 })
      .expect(401);
    await request(server)
      .post('/echo')
      .set('x-api-key', 'secret-key-123')
      .send({ text: 'x', times: 1 })
      .expect(201);
    await request(server)
      .post('/echo')
      .set('authorization', 'Bearer secret-key-123')
      .send({ text: 'x', times: 1 })
      .expect(201);
    await request(server).get('/health').expect(200);
  });
});

describe('platform health contributors', () => {
  const root = uniqueRoot('platform_health');
  let app: NestFastifyApplication;
  let ready = false;

  @Injectable()
  class ReadinessCheck implements OnModuleInit {
    constructor(private readonly health: HealthService) {}

    onModuleInit(): void {
      this.health.register({
        name: 'models',
        check: async () => ({ ok: ready, detail: ready ? 'loaded' : 'loading' }),
      });
    }
  }

  beforeAll(async () => {
    const config = loadConfig(baseEnvSchema, { NATS_URL: TEST_NATS_URL, SUBJECT_ROOT: root });
    @Module({ providers: [ReadinessCheck] })
    class AppWithCheck {}
    app = await createServiceApp(
      {
        module: AppWithCheck,
        imports: [PlatformModule.forRoot({ service: 'platform-test', config })],
      },
      { service: 'platform-test', config, logger: silent },
    );
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it("reports an app module's check and is unavailable while it fails", async () => {
    const server = app.getHttpServer();
    const loading = await request(server).get('/health').expect(503);
    expect(loading.body.checks.models).toEqual({ ok: false, detail: 'loading' });
    ready = true;
    const loaded = await request(server).get('/health').expect(200);
    expect(loaded.body.checks.models).toEqual({ ok: true, detail: 'loaded' });
  });
});

describe('loadConfig', () => {
  it('names every bad variable', () => {
    expect(() =>
      loadConfig(baseEnvSchema, { SUBJECT_ROOT: 'Bad.Root', LOG_LEVEL: 'loud' }),
    ).toThrow(/SUBJECT_ROOT: must be .*; LOG_LEVEL/);
  });
});
