import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import {
  ControlPattern,
  ModelAnnouncement,
  ModelCatalogue,
  modelCatalogueRequestSchema,
  ModelVersion,
  parseInput,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import { selectBackend } from '@dln/ml';
import { connectNats, decodeJson, encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot, waitFor } from '@dln/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  direct,
  instances,
  modelFor,
  rows,
  snapshot,
  source,
  storeVersion,
} from './fixtures/artifacts';
import { createPredictionApp } from './prediction.app';
import { loadPredictionConfig } from './prediction.config';

// Live model swap under a steady concurrent REST load: several announced defaults, a pin that
// holds while newer versions arrive, unpin and promote; the last KEEP_VERSIONS stay loaded.
const root = uniqueRoot('live_swap');
const subjects = new Subjects(root);
const binary = snapshot('binary');
const record = rows(1, 5);
const body = JSON.stringify({ instances: instances(record) });
const catalogue: ModelVersion[] = [];
const models = new Map<number, tf.LayersModel>();
const expected = new Map<number, number>();
const subscriptions: { unsubscribe(): void }[] = [];
let nc: NatsConnection;
let app: NestFastifyApplication;
let base = '';

interface VersionView {
  version: string;
  state: string;
  is_default: boolean;
}

async function versions(): Promise<VersionView[]> {
  const response = await fetch(`${base}/v1/models/late`);
  return ((await response.json()) as { model_version_status: VersionView[] }).model_version_status;
}

async function servedDefault(): Promise<number | undefined> {
  const found = (await versions()).find((v) => v.is_default);
  return found ? Number(found.version) : undefined;
}

async function loaded(): Promise<number[]> {
  return (await versions())
    .filter((v) => v.state === 'AVAILABLE')
    .map((v) => Number(v.version))
    .sort((a, b) => a - b);
}

/** Changes the catalogue as the AM would, then announces the change. */
function change(
  version: number,
  kind: ModelAnnouncement['change'],
  edit: (v: ModelVersion) => void,
): void {
  catalogue.forEach(edit);
  const announcement: ModelAnnouncement = {
    model: 'late',
    version,
    defaultVersion: catalogue.find((v) => v.isDefault)?.version ?? null,
    change: kind,
  };
  nc.publish(subjects.modelAnnouncements(), encodeJson(announcement));
}

async function addVersion(version: number, asDefault: boolean): Promise<void> {
  const model = modelFor(binary, version);
  models.set(version, model);
  expected.set(version, direct(model, binary, record)[0]![0]!);
  if (asDefault) catalogue.forEach((v) => (v.isDefault = false));
  catalogue.push(await storeVersion(nc, subjects, 'late', version, model, binary, asDefault));
}

/** Steady load: 8 clients in closed loops, each answer matched to the version that gave it. */
function steadyLoad(): { stop(): Promise<{ failures: string[]; seen: Map<number, number> }> } {
  const failures: string[] = [];
  const seen = new Map<number, number>();
  let stopping = false;
  const clients = Array.from({ length: 8 }, async () => {
    while (!stopping) {
      const response = await fetch(`${base}/v1/models/late:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const answer = (await response.json()) as { predictions?: number[] };
      const p = answer.predictions?.[0];
      if (response.status !== 200 || p === undefined) {
        failures.push(`${response.status} ${JSON.stringify(answer)}`);
        continue;
      }
      const version = [...expected].find(([, e]) => Math.abs(e - p) < 1e-5)?.[0] ?? -1;
      seen.set(version, (seen.get(version) ?? 0) + 1);
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(clients);
      return { failures, seen };
    },
  };
}

describe('live model swap', () => {
  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'live-swap-int-spec' });
    await addVersion(1, true);
    const description: SourceDescription = {
      declaration: source,
      idField: 'id',
      stream: 'S',
      subjects: { ingest: 'i', raw: 'r', deadLetter: 'd' },
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
    app = await createPredictionApp(
      loadPredictionConfig({
        NATS_URL: TEST_NATS_URL,
        SUBJECT_ROOT: root,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'warn',
        PARSE_WORKERS: '0',
        KEEP_VERSIONS: '2',
        CATALOGUE_RETRY_MS: '200',
      }),
    );
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    await waitFor('v1 to serve', async () => (await servedDefault()) === 1, 60_000);
  });

  afterAll(async () => {
    await app?.close();
    for (const s of subscriptions) s.unsubscribe();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
    for (const model of models.values()) model.dispose();
  });

  it('swaps defaults several times under load with no failed request, keeping the last K loaded', async () => {
    const load = steadyLoad();
    for (const version of [2, 3, 4]) {
      await addVersion(version, true);
      change(version, 'added', () => undefined);
      await waitFor(
        `v${version} to serve`,
        async () => (await servedDefault()) === version,
        60_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitFor('only the last two to stay loaded', async () => {
      const now = await loaded();
      return now.length === 2 && now[0] === 3 && now[1] === 4;
    });
    const { failures, seen } = await load.stop();
    expect(failures).toEqual([]);
    expect([...seen.keys()].sort()).toEqual([1, 2, 3, 4]);
    const states = Object.fromEntries((await versions()).map((v) => [v.version, v.state]));
    expect(states).toEqual({ '1': 'END', '2': 'END', '3': 'AVAILABLE', '4': 'AVAILABLE' });
  });

  it('keeps a pinned version serving while newer versions arrive, then follows unpin and promote', async () => {
    const load = steadyLoad();
    change(3, 'pinned', (v) => {
      v.isDefault = v.version === 3;
      v.pinned = v.version === 3;
    });
    await waitFor('the pinned v3 to serve', async () => (await servedDefault()) === 3, 60_000);
    // The AM catalogues newer versions without promoting them while v3 is pinned.
    await addVersion(5, false);
    change(5, 'added', () => undefined);
    await addVersion(6, false);
    change(6, 'added', () => undefined);
    await waitFor('v6 to load', async () => (await loaded()).includes(6), 60_000);
    expect(await servedDefault()).toBe(3);
    // The pinned version stays loaded beside the newest two, even though it is older.
    await waitFor('v3, v5 and v6 loaded', async () => (await loaded()).join() === '3,5,6');
    const duringPin = await load.stop();
    expect(duringPin.failures).toEqual([]);
    // v4 until the pin was served, then v3: never the newer versions that arrived meanwhile.
    expect([...duringPin.seen.keys()].every((v) => v === 3 || v === 4)).toBe(true);
    const afterPin = steadyLoad();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pinnedOnly = await afterPin.stop();
    expect([...pinnedOnly.seen.keys()]).toEqual([3]);

    const swapBack = steadyLoad();
    change(3, 'unpinned', (v) => (v.pinned = false));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await servedDefault()).toBe(3);
    change(6, 'promoted', (v) => (v.isDefault = v.version === 6));
    await waitFor('v6 to serve', async () => (await servedDefault()) === 6, 60_000);
    await waitFor('v3 to be unloaded', async () => (await loaded()).join() === '5,6');
    const after = await swapBack.stop();
    expect(after.failures).toEqual([]);
    expect(after.seen.has(6)).toBe(true);
  });
});
