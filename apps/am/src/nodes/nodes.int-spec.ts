import 'reflect-metadata';
import {
  ControlPattern,
  NodeDetail,
  NodeList,
  NodeRegistration,
  Subjects,
  nodeHeartbeatReplySchema,
  nodeRegistrationAckSchema,
} from '@dln/contracts';
import { NatsConnection, connectNats, requestJson } from '@dln/messaging';
import { dropPostgresSchema } from '@dln/persistence';
import { JsonLogger, createServiceApp } from '@dln/platform';
import { TEST_DATABASES, TEST_NATS_URL, uniqueRoot, waitFor } from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAmConfig } from '../am.config';
import { AmModule } from '../am.module';

const INTERVAL_MS = 200;

describe.each(TEST_DATABASES)('am node registry on $kind', ({ kind, databaseUrl }) => {
  const root = uniqueRoot(`am_nodes_${kind}`);
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-am-nodes-'));
  const config = loadAmConfig({
    NATS_URL: TEST_NATS_URL,
    SUBJECT_ROOT: root,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    DB_SCHEMA: root,
    HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
    NODE_SWEEP_INTERVAL_MS: '50',
    LOG_LEVEL: 'error',
  });
  let app: NestFastifyApplication;
  let nc: NatsConnection;
  let seq = 0;

  async function startAm(): Promise<NestFastifyApplication> {
    const created = await createServiceApp(AmModule.forRoot(config), {
      service: 'am',
      config,
      logger: new JsonLogger('am', 'error', () => undefined),
    });
    await created.init();
    await created.getHttpAdapter().getInstance().ready();
    return created;
  }

  const registration = (nodeId: string, incarnation = 'inc-1'): NodeRegistration => ({
    nodeId,
    incarnation,
    kind: 'worker',
    slots: 2,
    version: '0.1.0',
    host: 'test-host',
    httpPort: 4321,
    startedAt: new Date().toISOString(),
    runningRoles: [],
  });

  const register = (body: unknown) =>
    requestJson(nc, subjects.control(ControlPattern.nodeRegister), body, {
      reply: nodeRegistrationAckSchema,
      what: 'register',
    });
  const heartbeat = (nodeId: string, incarnation = 'inc-1') =>
    requestJson(
      nc,
      subjects.control(ControlPattern.nodeHeartbeat),
      { nodeId, incarnation, seq: seq++, sentAt: new Date().toISOString(), runningRoles: [] },
      { reply: nodeHeartbeatReplySchema, what: 'heartbeat', timeoutMs: 1000 },
    );
  const nodes = async (): Promise<NodeList> =>
    (await request(app.getHttpServer()).get('/v1/nodes').expect(200)).body;
  const detail = async (id: string): Promise<NodeDetail> =>
    (await request(app.getHttpServer()).get(`/v1/nodes/${id}`).expect(200)).body;
  const statusOf = async (id: string) => (await nodes()).nodes.find((n) => n.nodeId === id)?.status;

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'am-nodes-test' });
    app = await startAm();
  });

  afterAll(async () => {
    await app?.close();
    await nc?.close();
    if (databaseUrl) await dropPostgresSchema(databaseUrl, root);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers a node, lists it ALIVE and tells it the liveness rules', async () => {
    const ack = await register(registration('node-a'));
    expect(ack).toEqual({
      nodeId: 'node-a',
      known: false,
      heartbeatIntervalMs: INTERVAL_MS,
      lossAfterMissed: 3,
    });
    const listed = (await nodes()).nodes.find((n) => n.nodeId === 'node-a');
    expect(listed).toMatchObject({
      status: 'ALIVE',
      kind: 'worker',
      httpPort: 4321,
      slots: { total: 2, used: 0, free: 2 },
    });
    expect((await heartbeat('node-a')).known).toBe(true);
    expect(
      (await nodes()).nodes.find((n) => n.nodeId === 'node-a')?.lastHeartbeatAt,
    ).not.toBeNull();
  });

  it('marks a silent node LOST within 3 x interval + 1 s and ALIVE when it is back, recording both', async () => {
    await register(registration('node-b'));
    for (let i = 0; i < 3; i += 1) {
      await heartbeat('node-b');
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
    await heartbeat('node-b');
    const lastBeat = Date.now();
    await waitFor('node-b LOST', async () => (await statusOf('node-b')) === 'LOST', 10_000, 20);
    const detectedAfter = Date.now() - lastBeat;
    expect(detectedAfter).toBeGreaterThanOrEqual(3 * INTERVAL_MS - 20);
    expect(detectedAfter).toBeLessThanOrEqual(3 * INTERVAL_MS + 1000);
    expect((await heartbeat('node-b')).known).toBe(true);
    expect(await statusOf('node-b')).toBe('ALIVE');
    const events = (await detail('node-b')).events.map((e) => [e.type, e.from, e.to]);
    expect(events).toEqual([
      ['REGISTERED', null, 'ALIVE'],
      ['LOST', 'ALIVE', 'LOST'],
      ['ALIVE', 'LOST', 'ALIVE'],
    ]);
  });

  it('tells an unknown node or an old incarnation to register again', async () => {
    expect((await heartbeat('never-registered')).known).toBe(false);
    await register(registration('node-c', 'inc-2'));
    expect((await heartbeat('node-c', 'inc-1')).known).toBe(false);
    const again = await register(registration('node-c', 'inc-3'));
    expect(again.known).toBe(true);
    expect((await detail('node-c')).events.map((e) => e.type)).toEqual(['REGISTERED', 'RESTARTED']);
  });

  it('answers bad input precisely over NATS and REST', async () => {
    await expect(
      register({ ...registration('node-d'), slots: 0, nodeId: 'Bad.Id' }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    const bad = await request(app.getHttpServer()).get('/v1/nodes/Bad.Id').expect(400);
    expect(bad.body.error.code).toBe('INVALID_REQUEST');
    const missing = await request(app.getHttpServer()).get('/v1/nodes/nope').expect(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('reloads its nodes after a restart; a node that keeps heartbeating stays ALIVE', async () => {
    await register(registration('node-e'));
    let beating = true;
    const loop = (async () => {
      while (beating) {
        await heartbeat('node-e').catch(() => undefined);
        await new Promise((r) => setTimeout(r, INTERVAL_MS));
      }
    })();
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
    await app.close();
    await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
    app = await startAm();
    expect(await statusOf('node-e')).toBe('ALIVE');
    await new Promise((r) => setTimeout(r, 8 * INTERVAL_MS));
    expect(await statusOf('node-e')).toBe('ALIVE');
    beating = false;
    await loop;
    const types = (await detail('node-e')).events.map((e) => e.type);
    expect(types).toEqual(['REGISTERED']);
  });
});
