import { JobView, ModelVersion, NodeList, Subjects, streamJobConsumer } from '@dln/contracts';
import { connectNats, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import {
  call,
  deleteStreamsOfRoot,
  flightArrivals,
  flightDelaysStreamPipeline,
  flightEventsSource,
  flightLabelsSource,
  flightsByDepartureTime,
  ok,
  StreamingStack,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 5, streaming training across real processes: ingest, the feature service running a
// stream pipeline (flights joined with their delayed-or-not labels), the AM, a ps node, a worker
// node and the prediction service. A producer replays flights ordered by date, each flight an
// event at its departure time and its label a fixed lag later; a stream job learns from the
// joined examples and exports versions until cancelled; prediction serves the newest.
// (streaming-done.e2e-spec.ts replays all of flights-20k with a scorer, REST load and a kill.)
const FLIGHTS = 3000;
const LABEL_LAG_MS = 30 * 60_000;
const PIPELINE = 'delays-stream';
const MODEL = 'delays-live';

describe('streaming training across processes', () => {
  const root = uniqueRoot('streaming_e2e');
  const subjects = new Subjects(root);
  let nc: NatsConnection;
  let stack: StreamingStack;

  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'streaming-e2e' });
    stack = await StreamingStack.start(root);
  });

  afterAll(async () => {
    if (process.env['E2E_DEBUG'] && stack) console.log(stack.logs());
    await stack?.stop();
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
  });

  it('learns from a replayed flights stream, exports versions, prediction serves the newest, cancel ends it', async () => {
    const ingest = stack.service('ingest');
    const feature = stack.service('feature');
    const am = stack.service('am');
    const prediction = stack.service('prediction');
    for (const declaration of [flightEventsSource(), flightLabelsSource()])
      await ok('POST', `${ingest.url}/v1/sources`, declaration);
    await ok(
      'POST',
      `${feature.url}/v1/pipelines`,
      flightDelaysStreamPipeline(PIPELINE, LABEL_LAG_MS),
    );
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
    const flights = flightsByDepartureTime(FLIGHTS);
    const arrivals = flightArrivals(flights, LABEL_LAG_MS);
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
