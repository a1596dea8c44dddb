import { JobView, ModelVersion, pipelineSnapshotSchema, Subjects } from '@dln/contracts';
import {
  flightsPipelineSpec,
  flightsSourceDeclaration,
  PipelineEncoder,
  splitOf,
} from '@dln/features';
import { flightsJobSpec } from '@dln/jobs';
import { connectNats, NatsConnection } from '@dln/messaging';
import {
  artifactFromBlobs,
  batchFromExamples,
  loadArtifactModel,
  predictBatch,
  selectBackend,
} from '@dln/ml';
import { RoleObjects } from '@dln/ps-wire';
import {
  call,
  deleteStreamsOfRoot,
  loadFlights,
  ServiceProcess,
  storedDate,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 3's whole path as separate processes: ingest -> feature -> am -> 2 workers + 1 ps ->
// prediction, on the real flights data, then REST predictions checked against the exported model
// run in this process on the same records.
const flights = loadFlights();

describe('flights: batch training over separate processes, then direct prediction', () => {
  const root = uniqueRoot('flights_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-flights-e2e-'));
  const processes: ServiceProcess[] = [];
  const url: Record<string, string> = {};
  let nc: NatsConnection;

  beforeAll(async () => {
    const env = {
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    };
    for (const app of ['am', 'ingest', 'feature', 'prediction']) {
      const service = await ServiceProcess.start({ app, env });
      processes.push(service);
      url[app] = service.url;
    }
    processes.push(
      await ServiceProcess.start({ app: 'parameter-server', env: { ...env, NODE_ID: 'ps-a' } }),
    );
    for (const id of ['worker-a', 'worker-b']) {
      processes.push(await ServiceProcess.start({ app: 'worker', env: { ...env, NODE_ID: id } }));
    }
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'flights-e2e' });
    await selectBackend({ log: () => undefined, warn: () => undefined });
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    if (nc) {
      await deleteStreamsOfRoot(nc, root);
      await nc.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ingests the flights and declares the pipeline', async () => {
    expect(
      (await call('POST', `${url['ingest']}/v1/sources`, flightsSourceDeclaration('flights')))
        .status,
    ).toBe(201);
    for (let offset = 0; offset < flights.length; offset += 5_000) {
      const res = await call<{ accepted: number }>(
        'POST',
        `${url['ingest']}/v1/sources/flights/records?idFrom=row&idOffset=${offset}`,
        flights.slice(offset, offset + 5_000),
      );
      expect(res.body.accepted).toBe(5_000);
    }
    expect(
      (
        await call(
          'POST',
          `${url['feature']}/v1/pipelines`,
          flightsPipelineSpec('flights', 'flights'),
        )
      ).status,
    ).toBe(201);
  });

  let job: JobView;
  it('trains with 2 workers and 1 ps, the AM fitting and materializing the pipeline first, to AUC >= 0.64', async () => {
    await waitFor('3 nodes', async () => {
      const nodes = await call<{ nodes: { status: string }[] }>('GET', `${url['am']}/v1/nodes`);
      return nodes.body.nodes.filter((n) => n.status === 'ALIVE').length === 3;
    });
    // Only the pipeline's name: the AM has it fitted and materialized (PREPARING) first.
    const spec = { ...flightsJobSpec('flights', 1), examples: { pipeline: 'flights' } };
    const submitted = await call<JobView>('POST', `${url['am']}/v1/jobs`, spec);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    job = await waitFor(
      'the job to end',
      async () => {
        const view = (await call<JobView>('GET', `${url['am']}/v1/jobs/${submitted.body.id}`)).body;
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(view.state) ? view : undefined;
      },
      300_000,
      500,
    );
    expect(job.state, job.reason ?? '').toBe('SUCCEEDED');
    expect(job.pipelineVersion).toBe(1);
    expect(
      job.roles
        .filter((r) => r.state === 'DONE')
        .map((r) => r.role)
        .sort(),
    ).toEqual(['ps-0', 'worker-0', 'worker-1']);
    const last = job.validation[job.validation.length - 1]!;
    expect(last.metrics.auc).toBeGreaterThanOrEqual(0.64);
    expect(Number.isFinite(last.metrics.loss)).toBe(true);
    expect(job.modelVersion).toBe(1);
    const events = await call<{ events: { type: string; to: string | null }[] }>(
      'GET',
      `${url['am']}/v1/jobs/${job.id}/events`,
    );
    const states = events.body.events.filter((e) => e.type === 'job-state').map((e) => e.to);
    expect(states).toEqual(['SUBMITTED', 'PREPARING', 'SCHEDULING', 'RUNNING', 'SUCCEEDED']);
  });

  it('serves the exported version over REST with the scores of the model run in-process', async () => {
    const versions = await call<{ versions: ModelVersion[] }>(
      'GET',
      `${url['am']}/v1/models/flights/versions`,
    );
    const version = versions.body.versions.find((v) => v.version === job.modelVersion)!;
    expect(version.isDefault).toBe(true);

    const objects = new RoleObjects(nc, subjects);
    const blobs = new Map<string, Uint8Array>();
    for (const name of version.objects)
      blobs.set(basename(name), await objects.getBlob('models', name));
    const artifact = artifactFromBlobs(blobs);
    const pinned = artifact.pipeline as { snapshot?: unknown };
    const snapshot = pipelineSnapshotSchema.parse(pinned.snapshot ?? pinned);
    const encoder = new PipelineEncoder(snapshot);
    const model = await loadArtifactModel(artifact);

    const heldOut = flights
      .map((flight, row) => ({ flight, row }))
      .filter(
        ({ row }) =>
          splitOf(String(row), snapshot.spec.split.validationFraction, snapshot.spec.split.seed) ===
          'validation',
      )
      .slice(0, 64);
    expect(heldOut.length).toBe(64);
    const examples = heldOut.map(({ flight }) =>
      encoder.encode({ ...flight, date: storedDate(flight.date) }, 'optional'),
    );
    const expected = Array.from(
      predictBatch(model, batchFromExamples(examples, artifact.outputSchema)),
    );

    await waitFor('prediction to serve the version', async () => {
      const status = await call<{ model_version_status: { version: string; state: string }[] }>(
        'GET',
        `${url['prediction']}/v1/models/flights`,
      );
      return status.body.model_version_status?.some(
        (s) => s.version === String(job.modelVersion) && s.state === 'AVAILABLE',
      );
    });
    const instances = heldOut.map(({ flight: { date, distance, origin, destination } }) => ({
      date,
      distance,
      origin,
      destination,
    }));
    const answer = await call<{ predictions: number[] }>(
      'POST',
      `${url['prediction']}/v1/models/flights:predict`,
      { instances },
    );
    expect(answer.status, JSON.stringify(answer.body).slice(0, 300)).toBe(200);
    expect(answer.body.predictions).toHaveLength(64);
    answer.body.predictions.forEach((score, i) => expect(score).toBeCloseTo(expected[i]!, 5));
    expect(new Set(expected.map((p) => p.toFixed(3))).size).toBeGreaterThan(10);
    model.dispose();
  });

  it('answers bad predict calls with a precise 4xx', async () => {
    const predict = (path: string, body: unknown) =>
      call<{ error: string }>('POST', `${url['prediction']}${path}`, body);
    const ok = { date: '2001/01/05 16:37', distance: 719, origin: 'DCA', destination: 'STL' };
    const wrongType = await predict('/v1/models/flights:predict', {
      instances: [{ ...ok, distance: 'far' }],
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatch(/distance/);
    expect((await predict('/v1/models/nope:predict', { instances: [ok] })).status).toBe(404);
    expect(
      (await predict('/v1/models/flights/versions/99:predict', { instances: [ok] })).status,
    ).toBe(404);
    expect((await predict('/v1/models/flights:predict', { instances: [] })).status).toBe(400);
  });
});
