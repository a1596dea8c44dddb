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
import { ModelCatalogueService } from './model-catalogue.service';
import { SERVER_TIME_HEADER, createPredictionApp } from './prediction.app';
import { loadPredictionConfig } from './prediction.config';

const root = uniqueRoot('prediction');
const subjects = new Subjects(root);
const binary = snapshot('binary');
const classes = snapshot('class');
let v1Model: tf.LayersModel;
let v2Model: tf.LayersModel;
let kindModel: tf.LayersModel;
const held = rows(40, 77);

let nc: NatsConnection;
let app: NestFastifyApplication;
let base = '';
const catalogue: ModelVersion[] = [];
const subscriptions: { unsubscribe(): void }[] = [];

async function call(
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

/** Publishes that `version` of `model` was added as its default. */
function announceDefault(model: string, version: number): void {
  const announcement: ModelAnnouncement = {
    model,
    version,
    defaultVersion: version,
    change: 'added',
  };
  nc.publish(subjects.modelAnnouncements(), encodeJson(announcement));
}

interface VersionStatus {
  version: string;
  state: string;
  is_default: boolean;
  status: { error_code: string; error_message: string };
}

/** The model's versions as GET /v1/models/{model} reports them. */
async function versionStatuses(model: string): Promise<VersionStatus[]> {
  return (await call(`/v1/models/${model}`)).body['model_version_status'] as VersionStatus[];
}

function respond(pattern: ControlPattern, answer: (request: unknown) => unknown): void {
  subscriptions.push(
    nc.subscribe(subjects.control(pattern), {
      callback: (_e, msg) => {
        msg.respond(encodeJson(answer(decodeJson(msg.data))));
      },
    }),
  );
}

describe('prediction service', () => {
  beforeAll(async () => {
    await selectBackend({ log: () => undefined, warn: () => undefined });
    v1Model = modelFor(binary, 1);
    v2Model = modelFor(binary, 2);
    kindModel = modelFor(classes, 3);
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'prediction-int-spec' });
    catalogue.push(await storeVersion(nc, subjects, 'late', 1, v1Model, binary, true));
    catalogue.push(await storeVersion(nc, subjects, 'kinds', 1, kindModel, classes, true));
    const config = loadPredictionConfig({
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      MAX_INSTANCES: '300',
      OFFLOAD_BYTES: '4096',
      CATALOGUE_RETRY_MS: '200',
      BODY_LIMIT_BYTES: '200000',
    });
    app = await createPredictionApp(config);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    // The AM answers only now: the service must have kept asking.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const description: SourceDescription = {
      declaration: source,
      idField: 'id',
      stream: 'S',
      subjects: { ingest: 'i', raw: 'r', deadLetter: 'd' },
      stored: { records: 0, bytes: 0 },
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    };
    respond(ControlPattern.sourceDescribe, () => description);
    respond(ControlPattern.modelCatalogue, (request) => {
      const { model } = parseInput(modelCatalogueRequestSchema, request ?? {}, 'catalogue request');
      const answer: ModelCatalogue = {
        versions: catalogue.filter((v) => model === undefined || v.model === model),
      };
      return answer;
    });
    const available = async (model: string): Promise<boolean> => {
      const status = await call(`/v1/models/${model}`);
      return status.status === 200 && JSON.stringify(status.body).includes('"AVAILABLE"');
    };
    await waitFor(
      'models to load',
      async () => (await available('late')) && (await available('kinds')),
      60_000,
    );
    await app.get(ModelCatalogueService).whenCatalogueLearned();
  });

  afterAll(async () => {
    await app?.close();
    for (const s of subscriptions) s.unsubscribe();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  });

  it('answers predictions equal to the exported model run in-process, in both request forms', async () => {
    const expected = direct(v1Model, binary, held).map((row) => row[0]!);
    const rowsAnswer = await call('/v1/models/late:predict', { instances: instances(held) });
    expect(rowsAnswer.status).toBe(200);
    const predictions = rowsAnswer.body['predictions'] as number[];
    predictions.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 5));
    expect(Number(rowsAnswer.headers.get(SERVER_TIME_HEADER))).toBeGreaterThan(0);
    const plain = instances(held);
    const inputs = Object.fromEntries(
      Object.keys(plain[0]!).map((key) => [key, plain.map((r) => r[key])]),
    );
    const columnar = await call('/v1/models/late/versions/1:predict', { inputs });
    expect(columnar.body).toEqual(rowsAnswer.body);
    const charset = await fetch(`${base}/v1/models/late:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ instances: instances(held) }),
    });
    expect(await charset.json()).toEqual(rowsAnswer.body);
  });

  it('parses a 256-record body off the event loop with the same answers', async () => {
    const many = rows(256, 5);
    const answer = await call('/v1/models/late:predict', { instances: instances(many) });
    expect(answer.status).toBe(200);
    const expected = direct(v1Model, binary, many);
    (answer.body['predictions'] as number[]).forEach((p, i) =>
      expect(p).toBeCloseTo(expected[i]![0]!, 5),
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(
      Number(/dln_prediction_bodies_parsed\{where="worker"[^}]*\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
    expect(
      Number(/dln_prediction_model_rows\{[^}]*\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(256);
    // Every version loaded so far was timed, by phase.
    for (const phase of ['fetch', 'build', 'plan', 'total'])
      expect(
        Number(
          new RegExp(
            `dln_prediction_version_load_seconds_count\\{[^}]*phase="${phase}"[^}]*\\} (\\d+)`,
          ).exec(metrics)?.[1],
        ),
      ).toBeGreaterThanOrEqual(1);
  });

  it('classifies with class names, and lists them in the metadata in output order', async () => {
    const answer = await call('/v1/models/kinds:classify', {
      examples: instances(held.slice(0, 3)),
    });
    expect(answer.status).toBe(200);
    const result = answer.body['result'] as [string, number][][];
    const names = classes.label.classes!;
    expect(result[0]!.map(([name]) => name)).toEqual(names);
    const expected = direct(kindModel, classes, held.slice(0, 3));
    result.forEach((pairs, i) =>
      pairs.forEach(([, score], c) => expect(score).toBeCloseTo(expected[i]![c]!, 5)),
    );
    const metadata = await call('/v1/models/kinds/metadata');
    expect(metadata.status).toBe(200);
    expect(metadata.body).toMatchObject({
      model_spec: { name: 'kinds', version: '1' },
      metadata: { dln: { class_names: names, label: { kind: 'class', field: 'kind' } } },
    });
    const signature = (
      metadata.body['metadata'] as {
        signature_def: { signature_def: Record<string, { inputs: object }> };
      }
    ).signature_def.signature_def['serving_default']!;
    expect(Object.keys(signature.inputs).sort()).toEqual(['at', 'distance', 'origin']);
  });

  it('lists the models with their served defaults once the catalogue is read', async () => {
    expect((await call('/v1/models')).body).toEqual({
      catalogue: 'read',
      models: { kinds: 1, late: 1 },
    });
  });

  it('reports version status in TensorFlow Serving shape', async () => {
    const status = await call('/v1/models/late');
    expect(status.body).toEqual({
      model_version_status: [
        {
          version: '1',
          state: 'AVAILABLE',
          is_default: true,
          status: { error_code: 'OK', error_message: '' },
        },
      ],
    });
  });

  it('answers errors as {"error": "..."} with the right 4xx', async () => {
    const [first] = instances(held);
    const cases: [string, unknown, number, RegExp][] = [
      [
        '/v1/models/late:predict',
        { instances: [{ ...first, distance: 'far' }] },
        400,
        /^instances\[0\]\.distance: must be a number, got string$/,
      ],
      [
        '/v1/models/late:predict',
        '{"instances": [{"distance": NaN}]}',
        400,
        /NaN at position \d+ is not a number JSON can carry/,
      ],
      [
        '/v1/models/late:predict',
        { instances: [{ at: first!['at'], origin: 'SFO' }] },
        400,
        /^instances\[0\]\.distance: value is missing/,
      ],
      [
        '/v1/models/late:predict',
        { instances: [{ ...first, at: 'yesterday' }] },
        400,
        /^instances\[0\]\.at: /,
      ],
      ['/v1/models/nope:predict', { instances: [first] }, 404, /model "nope" not found/],
      [
        '/v1/models/late/versions/7:predict',
        { instances: [first] },
        404,
        /model "late" has no version 7/,
      ],
      [
        '/v1/models/late/versions/x:predict',
        { instances: [first] },
        400,
        /version "x" is not a positive integer/,
      ],
      [
        '/v1/models/late:predict',
        { instances: Array.from({ length: 301 }, () => first) },
        413,
        /301 instances; at most 300/,
      ],
      ['/v1/models/late:predict', '{"instances": [', 400, /malformed JSON/],
      ['/v1/models/late:predict', { rows: [] }, 400, /unknown key "rows"/],
      [
        '/v1/models/late:predict',
        { instances: [{ ...first, origin: 'x'.repeat(250_000) }] },
        413,
        /too large/i,
      ],
      ['/v1/models/late:regress', { instances: [first] }, 404, /Cannot POST/],
      ['/v1/models/late:classify', '', 400, /the request body is empty/],
    ];
    for (const [path, body, status, message] of cases) {
      const answer = await call(path, body);
      expect({ path, status: answer.status }).toEqual({ path, status });
      expect(Object.keys(answer.body)).toEqual(['error']);
      expect(answer.body['error']).toMatch(message);
    }
    const unknownModel = await call('/v1/models/nope');
    expect(unknownModel).toMatchObject({ status: 404, body: { error: 'model "nope" not found' } });
  });

  it('picks up an announced default without failing requests in flight', async () => {
    const expectedV1 = direct(v1Model, binary, held.slice(0, 1))[0]![0]!;
    const expectedV2 = direct(v2Model, binary, held.slice(0, 1))[0]![0]!;
    expect(Math.abs(expectedV1 - expectedV2)).toBeGreaterThan(1e-4);
    const body = { instances: instances(held.slice(0, 1)) };
    const seen = new Set<string>();
    let failures = 0;
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const answer = await call('/v1/models/late:predict', body);
        if (answer.status !== 200) failures += 1;
        else {
          const p = (answer.body['predictions'] as number[])[0]!;
          seen.add(
            Math.abs(p - expectedV1) < 1e-5
              ? 'v1'
              : Math.abs(p - expectedV2) < 1e-5
                ? 'v2'
                : `other ${p}`,
          );
        }
      }
    });
    const v2 = await storeVersion(nc, subjects, 'late', 2, v2Model, binary, true);
    catalogue.forEach((v) => {
      if (v.model === 'late') v.isDefault = false;
    });
    catalogue.push(v2);
    announceDefault('late', 2);
    await waitFor(
      'v2 to be the default',
      async () => (await versionStatuses('late')).some((v) => v.version === '2' && v.is_default),
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop = true;
    await Promise.all(load);
    expect(failures).toBe(0);
    expect([...seen].sort()).toEqual(['v1', 'v2']);
    const after = await call('/v1/models/late:predict', body);
    expect((after.body['predictions'] as number[])[0]).toBeCloseTo(expectedV2, 5);
    const pinned = await call('/v1/models/late/versions/1:predict', body);
    expect((pinned.body['predictions'] as number[])[0]).toBeCloseTo(expectedV1, 5);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('a version that cannot be loaded leaves the previous default serving, says why, and is counted', async () => {
    const body = { examples: instances(held.slice(0, 1)) };
    const before = await call('/v1/models/kinds:classify', body);
    expect(before.status).toBe(200);
    const v1 = catalogue.find((v) => v.model === 'kinds' && v.version === 1)!;
    v1.isDefault = false;
    catalogue.push({ ...v1, version: 2, objects: ['kinds/2/model.json'], isDefault: true });
    announceDefault('kinds', 2);
    const failed = await waitFor(
      'v2 to fail loading',
      async () => {
        const v2 = (await versionStatuses('kinds')).find((v) => v.version === '2');
        return v2?.state === 'END' ? v2 : undefined;
      },
      60_000,
    );
    expect(failed.status.error_message).toMatch(
      /loading failed: object kinds\/2\/model\.json of kinds v2 is not in /,
    );
    const after = await call('/v1/models/kinds:classify', body);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(Number(/dln_prediction_version_load_failures\{[^}]*\} (\d+)/.exec(metrics)?.[1])).toBe(
      1,
    );
  });
});
