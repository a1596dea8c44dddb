import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import {
  ControlPattern,
  ModelAnnouncement,
  ModelCatalogue,
  modelCatalogueRequestSchema,
  ModelVersion,
  parseInput,
  PredictionMessage,
  ScorerStatus,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import { selectBackend } from '@dln/ml';
import { connectNats, decodeJson, encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import {
  deleteStreamsOfRoot,
  ensureRawStream,
  predictionsStored,
  publishRawRecords,
  readPredictions,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { direct, modelFor, rows, snapshot, source, storeVersion } from '../fixtures/artifacts';
import { createPredictionApp } from '../prediction.app';
import { loadPredictionConfig } from '../prediction.config';

const root = uniqueRoot('scorers');
const subjects = new Subjects(root);
const binary = snapshot('binary');
const catalogue: ModelVersion[] = [];
const subscriptions: { unsubscribe(): void }[] = [];
let nc: NatsConnection;
let v1Model: tf.LayersModel;
let v2Model: tf.LayersModel;
const apps: { app: NestFastifyApplication; base: string }[] = [];

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

async function startInstance(): Promise<{ app: NestFastifyApplication; base: string }> {
  const app = await createPredictionApp(
    loadPredictionConfig({
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      CATALOGUE_RETRY_MS: '200',
      PARSE_WORKERS: '0',
      SCORER_BATCH: '64',
      SCORER_ACK_WAIT_MS: '5000',
      SCORER_RETRY_MS: '200',
    }),
  );
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const instance = { app, base };
  apps.push(instance);
  return instance;
}

function announce(version: number, change: ModelAnnouncement['change']): void {
  const announcement: ModelAnnouncement = {
    model: 'late',
    version,
    defaultVersion: version,
    change,
  };
  nc.publish(subjects.modelAnnouncements(), encodeJson(announcement));
}

async function statusOf(base: string): Promise<ScorerStatus> {
  return (await call(base, 'GET', '/v1/scorers/late-legs')).body as unknown as ScorerStatus;
}

describe('prediction topics', () => {
  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
    v1Model = modelFor(binary, 1);
    v2Model = modelFor(binary, 2);
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'scorers-int-spec' });
    await ensureRawStream(nc, subjects, 'legs');
    const description: SourceDescription = {
      declaration: source,
      idField: 'id',
      stream: subjects.rawStream('legs'),
      subjects: { ingest: 'i', raw: subjects.rawAll('legs'), deadLetter: 'd' },
      stored: { records: 0, bytes: 0 },
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    };
    const respond = (pattern: ControlPattern, answer: (request: unknown) => unknown): void => {
      subscriptions.push(
        nc.subscribe(subjects.control(pattern), {
          callback: (_e, msg) => void msg.respond(encodeJson(answer(decodeJson(msg.data)))),
        }),
      );
    };
    respond(ControlPattern.sourceDescribe, () => description);
    respond(ControlPattern.modelCatalogue, (request) => {
      const { model } = parseInput(modelCatalogueRequestSchema, request ?? {}, 'catalogue');
      const answer: ModelCatalogue = {
        versions: catalogue.filter((v) => model === undefined || v.model === model),
      };
      return answer;
    });
    await startInstance();
    await startInstance();
  });

  afterAll(async () => {
    for (const { app } of apps) await app.close();
    for (const s of subscriptions) s.unsubscribe();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  });

  it('declares a scorer once, shares it with every instance, and refuses bad specs precisely', async () => {
    const [a, b] = apps as [(typeof apps)[0], (typeof apps)[0]];
    const created = await call(a.base, 'POST', '/v1/scorers', { source: 'legs', model: 'late' });
    expect(created).toEqual({
      status: 201,
      body: { scorer: { name: 'late-legs', source: 'legs', model: 'late' } },
    });
    const again = await call(b.base, 'POST', '/v1/scorers', { model: 'late', source: 'legs' });
    expect(again.status).toBe(200);
    const other = await call(b.base, 'POST', '/v1/scorers', {
      name: 'late-legs',
      source: 'legs',
      model: 'late',
      partitions: [0],
    });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: { code: 'CONFLICT' } });
    const bad = await call(a.base, 'POST', '/v1/scorers', {
      source: 'Legs!',
      model: 'late',
      partitions: [1, 1],
      extra: true,
    });
    expect(bad.status).toBe(400);
    const paths = (bad.body['error'] as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['source', 'partitions']));
    expect((await call(a.base, 'GET', '/v1/scorers/nope')).status).toBe(404);
    // Both instances run it; neither pulls anything while no version of the model exists.
    for (const { base } of apps) {
      await waitFor('the scorer to wait for a version', async () => {
        const status = await statusOf(base);
        return status.state === 'waiting';
      });
    }
  });

  it('keeps records that arrive before any version, then scores each exactly once across instances and a swap', async () => {
    const early = rows(300, 11).map((r, i) => ({ ...r, id: `e${i}` }));
    await publishRawRecords(nc, subjects, 'legs', early, 'id');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await predictionsStored(nc, subjects, 'late')).toBe(0);
    catalogue.push(await storeVersion(nc, subjects, 'late', 1, v1Model, binary, true));
    announce(1, 'added');
    await waitFor(
      'the early records to be scored',
      async () => {
        return (await predictionsStored(nc, subjects, 'late')) === early.length;
      },
      60_000,
    );

    // More records, with a swap to v2 while they flow; a record published twice is one record.
    // The second half goes out only once both instances serve v2, so that both versions score
    // records however slowly a loaded machine loads v2.
    const later = rows(1200, 12).map((r, i) => ({ ...r, id: `l${i}` }));
    let v2Served: () => void = () => undefined;
    const servingV2 = new Promise<void>((resolve) => (v2Served = resolve));
    const feeding = (async () => {
      for (let i = 0; i < later.length; i += 100) {
        if (i === 600) await servingV2;
        await publishRawRecords(nc, subjects, 'legs', later.slice(i, i + 100), 'id');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    catalogue.forEach((v) => (v.isDefault = false));
    catalogue.push(await storeVersion(nc, subjects, 'late', 2, v2Model, binary, true));
    announce(2, 'added');
    await waitFor(
      'both instances to serve v2',
      async () => {
        for (const { base } of apps) {
          const view = (await (await fetch(`${base}/v1/models/late`)).json()) as {
            model_version_status: { version: string; is_default: boolean; state: string }[];
          };
          const v2 = view.model_version_status.find((v) => v.version === '2');
          if (!v2?.is_default || v2.state !== 'AVAILABLE') return false;
        }
        return true;
      },
      60_000,
    ).finally(v2Served);
    await feeding;
    await publishRawRecords(nc, subjects, 'legs', later.slice(0, 50), 'id');
    const all = [...early, ...later];
    await waitFor(
      'every record to be scored',
      async () => {
        return (await predictionsStored(nc, subjects, 'late')) >= all.length;
      },
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));

    const stored = await readPredictions(nc, subjects, 'late');
    expect(stored).toHaveLength(all.length);
    const byId = new Map<string, PredictionMessage>(stored.map((m) => [m.id, m]));
    expect([...byId.keys()].sort()).toEqual(all.map((r) => r.id).sort());
    const expected = {
      1: direct(v1Model, binary, all).map((r) => r[0]!),
      2: direct(v2Model, binary, all).map((r) => r[0]!),
    };
    all.forEach((record, i) => {
      const message = byId.get(record.id)!;
      expect(message).toMatchObject({ source: 'legs', model: 'late' });
      expect(message.score).toBeCloseTo(expected[message.version as 1 | 2][i]!, 5);
      expect(message.timestamp).toBeGreaterThanOrEqual(message.ingestedAt);
    });
    const versions = new Set(stored.map((m) => m.version));
    expect([...versions].sort()).toEqual([1, 2]);
    expect(stored.filter((m) => m.id.startsWith('e')).every((m) => m.version === 1)).toBe(true);

    const statuses = await Promise.all(apps.map(({ base }) => statusOf(base)));
    expect(statuses.every((s) => s.state === 'running' && s.version === 2)).toBe(true);
    expect(statuses.every((s) => s.scored > 0)).toBe(true);
    expect(statuses.reduce((sum, s) => sum + s.scored - s.duplicates, 0)).toBe(all.length);
    const metrics = await (await fetch(`${apps[0]!.base}/metrics`)).text();
    expect(metrics).toMatch(/dln_prediction_scored\{[^}]*scorer="late-legs"[^}]*\} \d+/);
    expect(metrics).toMatch(/dln_prediction_scorer_lag_records\{/);
  });

  it('removes a scorer everywhere', async () => {
    expect((await call(apps[1]!.base, 'DELETE', '/v1/scorers/late-legs')).status).toBe(204);
    for (const { base } of apps) {
      await waitFor('the scorer to stop', async () => {
        const list = (await call(base, 'GET', '/v1/scorers')).body['scorers'] as unknown[];
        return list.length === 0;
      });
    }
    expect((await call(apps[0]!.base, 'DELETE', '/v1/scorers/late-legs')).status).toBe(404);
  });
});
