import {
  JobView,
  ModelVersion,
  NodeList,
  SourceDeclarationInput,
  StreamPipelineSpecInput,
  Subjects,
  streamJobConsumer,
} from '@dln/contracts';
import { connectNats, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import {
  deleteStreamsOfRoot,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 5, streaming training across real processes: ingest, the feature service running a
// stream pipeline (flights joined with their delayed-or-not labels), the AM, a ps node, a worker
// node and the prediction service. A producer replays flights ordered by date, each flight an
// event at its departure time and its label a fixed lag later; a stream job learns from the
// joined examples and exports versions until cancelled; prediction serves the newest.
const FLIGHTS = 3000;
const LABEL_LAG_MS = 30 * 60_000;
const PIPELINE = 'delays-stream';
const MODEL = 'delays-live';

interface Flight {
  date: string;
  delay: number;
  distance: number;
  origin: string;
}

/** The first FLIGHTS flights of flights-20k by departure time ("2001/01/13 14:56", UTC). */
function replayFlights(): {
  id: string;
  t: number;
  origin: string;
  distance: number;
  delayed: boolean;
}[] {
  const file = join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-20k.json');
  const rows = JSON.parse(readFileSync(file, 'utf8')) as Flight[];
  return rows
    .map((row, i) => {
      const [y, mo, d, h, mi] = row.date.split(/[/ :]/).map(Number) as number[];
      return {
        id: `f${i}`,
        t: Date.UTC(y!, mo! - 1, d!, h!, mi!),
        origin: row.origin,
        distance: row.distance,
        delayed: row.delay > 10,
      };
    })
    .sort((a, b) => a.t - b.t || a.id.localeCompare(b.id))
    .slice(0, FLIGHTS);
}

const events: SourceDeclarationInput = {
  name: 'flights',
  idField: 'id',
  fields: [
    { name: 'id', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'origin', type: 'string' },
    { name: 'distance', type: 'number' },
  ],
};
const labels: SourceDeclarationInput = {
  name: 'delays',
  idField: 'lid',
  fields: [
    { name: 'lid', type: 'string' },
    { name: 'event', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'delayed', type: 'boolean' },
  ],
};
const pipeline: StreamPipelineSpecInput = {
  mode: 'stream',
  name: PIPELINE,
  source: 'flights',
  eventTime: 't',
  latenessMs: 2 * LABEL_LAG_MS,
  features: [
    { kind: 'numeric', name: 'distance', field: 'distance', transform: 'standardize' },
    { kind: 'datetime', name: 'hour', field: 't', part: 'hour' },
    {
      kind: 'categorical',
      name: 'origin',
      field: 'origin',
      vocabulary: { kind: 'learned', maxSize: 400 },
      encoding: 'id',
    },
  ],
  label: { kind: 'binary', field: 'delayed' },
  join: {
    source: 'delays',
    eventKey: 'id',
    labelKey: 'event',
    labelTime: 't',
    windowMs: 2 * LABEL_LAG_MS,
  },
  snapshotEveryRecords: 500,
};

async function call<T>(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
      : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function ok<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
  const res = await call<T>(method, url, body);
  if (res.status >= 300)
    throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('streaming training across processes', () => {
  const root = uniqueRoot('streaming_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-streaming-e2e-'));
  const processes: ServiceProcess[] = [];
  let nc: NatsConnection;
  let ingest: ServiceProcess;
  let feature: ServiceProcess;
  let am: ServiceProcess;
  let prediction: ServiceProcess;

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'streaming-e2e' });
    const env = { NATS_URL: TEST_NATS_URL, SUBJECT_ROOT: root, LOG_LEVEL: 'warn' };
    [ingest, feature, am] = await Promise.all([
      ServiceProcess.start({ app: 'ingest', env: { ...env, DATA_DIR: join(dataDir, 'ingest') } }),
      ServiceProcess.start({
        app: 'feature',
        env: {
          ...env,
          DATA_DIR: join(dataDir, 'feature'),
          STREAM_CHECKPOINT_MS: '500',
          STREAM_RECONCILE_MS: '500',
        },
      }),
      ServiceProcess.start({
        app: 'am',
        env: {
          ...env,
          DATA_DIR: join(dataDir, 'am'),
          HEARTBEAT_INTERVAL_MS: '250',
          JOB_PROGRESS_EVENT_MS: '500',
        },
      }),
    ]);
    processes.push(ingest, feature, am);
    for (const [app, nodeId] of [
      ['parameter-server', 'p1'],
      ['worker', 'w1'],
    ] as const) {
      processes.push(
        await ServiceProcess.start({
          app,
          env: { ...env, NODE_ID: nodeId, NODE_SLOTS: '2', AM_RETRY_MAX_MS: '500' },
        }),
      );
    }
    prediction = await ServiceProcess.start({
      app: 'prediction',
      env: { ...env, PARSE_WORKERS: '0', CATALOGUE_RETRY_MS: '200' },
    });
    processes.push(prediction);
    await waitFor(
      'both nodes registered',
      async () => (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.length === 2,
      30_000,
    );
  });

  afterAll(async () => {
    if (process.env['E2E_DEBUG'])
      for (const p of processes) console.log(p.app, p.logs.slice(-40).join('\n'));
    await Promise.all(processes.map((p) => p.stop('SIGTERM', 5_000)));
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('learns from a replayed flights stream, exports versions, prediction serves the newest, cancel ends it', async () => {
    for (const declaration of [events, labels])
      await ok('POST', `${ingest.url}/v1/sources`, declaration);
    await ok('POST', `${feature.url}/v1/pipelines`, pipeline);
    await ok('POST', `${feature.url}/v1/pipelines/${PIPELINE}/stream/start`);
    await waitFor(
      'a first stream snapshot',
      async () =>
        (await call('GET', `${feature.url}/v1/pipelines/${PIPELINE}/stream/snapshots/latest`))
          .status === 200,
      30_000,
      200,
    );

    const submitted = await ok<JobView>('POST', `${am.url}/v1/jobs`, {
      name: 'delays-live',
      mode: 'stream',
      examples: { pipeline: PIPELINE },
      model: { kind: 'wide_and_deep', embeddings: [{ column: 'origin', dim: 4 }], deepHidden: [8] },
      training: { batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 }, seed: 3 },
      cluster: { workers: 1, ps: 1 },
      // Every version becomes the default: prediction must serve the newest.
      output: { model: MODEL, promotion: { metric: 'loss', margin: 1e6 } },
      stream: { exportEvery: { steps: 20, seconds: 5 }, keepVersions: 2, progressiveWindow: 500 },
    });
    expect(submitted.state).toBe('SCHEDULING');
    const jobUrl = `${am.url}/v1/jobs/${submitted.id}`;
    await waitFor(
      'RUNNING',
      async () => (await ok<JobView>('GET', jobUrl)).state === 'RUNNING',
      60_000,
      200,
    );

    // The producer: events at their departure time, labels LABEL_LAG_MS later, in time order,
    // 100 at a time every 50 ms (~2,000 records/s).
    const flights = replayFlights();
    const arrivals = [
      ...flights.map((f) => ({
        at: f.t,
        source: 'flights',
        record: { id: f.id, t: f.t, origin: f.origin, distance: f.distance },
      })),
      ...flights.map((f) => ({
        at: f.t + LABEL_LAG_MS,
        source: 'delays',
        record: { lid: `l${f.id}`, event: f.id, t: f.t + LABEL_LAG_MS, delayed: f.delayed },
      })),
    ].sort((a, b) => a.at - b.at);
    for (let i = 0; i < arrivals.length; i += 100) {
      const chunk = arrivals.slice(i, i + 100);
      for (const source of ['flights', 'delays']) {
        const records = chunk.filter((a) => a.source === source).map((a) => a.record);
        if (records.length === 0) continue;
        const res = await ok<{ accepted: number }>(
          'POST',
          `${ingest.url}/v1/sources/${source}/records`,
          records,
        );
        expect(res.accepted).toBe(records.length);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // At least two versions of the job, the newest the default, retired beyond the last 2.
    const versions = await waitFor(
      'two exported versions',
      async () => {
        const res = await call<{ versions: ModelVersion[] }>(
          'GET',
          `${am.url}/v1/models/${MODEL}/versions`,
        );
        const mine =
          res.status === 200 ? res.body.versions.filter((v) => v.jobId === submitted.id) : [];
        return mine.length >= 2 && Math.max(...mine.map((v) => v.version)) >= 2 ? mine : undefined;
      },
      180_000,
      500,
    );
    const newest = Math.max(...versions.map((v) => v.version));
    expect(versions.length).toBeLessThanOrEqual(3);
    expect(versions.every((v) => v.pipeline === PIPELINE && v.metrics.loss > 0)).toBe(true);
    const running = await ok<JobView>('GET', jobUrl);
    expect(running.state).toBe('RUNNING');
    expect(running.progress.loss).not.toBeNull();
    expect(running.progress.examplesSeen).toBeGreaterThan(0);

    // Prediction follows the announcements: it serves the newest default and scores with it.
    await waitFor(
      'prediction serves the newest version',
      async () => {
        const summary = await ok<{ models: Record<string, number | null> }>(
          'GET',
          `${prediction.url}/v1/models`,
        );
        return (summary.models[MODEL] ?? 0) >= newest;
      },
      60_000,
      250,
    );
    const served = (
      await ok<{ models: Record<string, number> }>('GET', `${prediction.url}/v1/models`)
    ).models[MODEL]!;
    const flight = flights[flights.length - 1]!;
    const scored = await ok<{ predictions: number[][] | number[] }>(
      'POST',
      `${prediction.url}/v1/models/${MODEL}/versions/${served}:predict`,
      {
        instances: [
          { id: flight.id, t: flight.t, origin: flight.origin, distance: flight.distance },
        ],
      },
    );
    expect(scored.predictions).toHaveLength(1);
    const score = [scored.predictions[0]].flat()[0]!;
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThan(1);

    const cancelled = await ok<JobView>('POST', `${jobUrl}/cancel`);
    expect(cancelled.state).toBe('CANCELLED');
    const jsm = await jetStreamManagerOf(nc);
    await waitFor(
      'the job consumer deleted',
      async () =>
        await jsm.consumers
          .info(subjects.streamExamplesStream(PIPELINE), streamJobConsumer(submitted.id))
          .then(() => false)
          .catch(() => true),
      30_000,
      200,
    );
    await waitFor(
      'slots released',
      async () =>
        (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.every(
          (n) => n.runningRoles.length === 0,
        ),
      30_000,
      250,
    );
  });
});
