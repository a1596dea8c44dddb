import {
  ControlPattern,
  JobEvent,
  JobView,
  modelCatalogueSchema,
  NodeList,
  Subjects,
} from '@dln/contracts';
import { connectNats, decodeJson, NatsConnection, requestJson } from '@dln/messaging';
import { ok, PrivateNatsServer, ServiceProcess, uniqueRoot, waitFor } from '@dln/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInForFeatureService, SYNTHETIC_PIPELINE } from './fixtures/synthetic-pipeline';

// A batch job across real processes: the am, a parameter-server node and a worker node built in
// dist/, whose role processes are the real ps and worker roles. The test stands in for the
// feature service only: it writes a materialized example stream and answers pipelineDescribe.
const PIPELINE = SYNTHETIC_PIPELINE;
const TRAIN = 600;
const VALIDATION = 200;

describe('a batch training job across processes', () => {
  const root = uniqueRoot('training_job_e2e');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-job-e2e-'));
  const processes: ServiceProcess[] = [];
  let nats: PrivateNatsServer;
  let nc: NatsConnection;
  let am: ServiceProcess;

  beforeAll(async () => {
    nats = await PrivateNatsServer.start();
    nc = await connectNats({ servers: nats.url, name: 'training-job-e2e' });
    await standInForFeatureService(nc, subjects, { train: TRAIN, validation: VALIDATION });
    const env = { NATS_URL: nats.url, SUBJECT_ROOT: root, LOG_LEVEL: 'info' };
    am = await ServiceProcess.start({
      app: 'am',
      env: {
        ...env,
        DATA_DIR: dataDir,
        DB_SCHEMA: 'am',
        HEARTBEAT_INTERVAL_MS: '250',
        JOB_PROGRESS_EVENT_MS: '200',
      },
    });
    processes.push(am);
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
    await waitFor(
      'both nodes registered',
      async () => (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.length === 2,
      30_000,
    );
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM', 5_000)));
    await nc?.close();
    await nats?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('trains with 2 workers and 1 ps to SUCCEEDED, checkpoints, and catalogues the model version', async () => {
    const seen: JobEvent[] = [];
    nc.subscribe(subjects.jobEventsAll(), {
      callback: (_e, msg) => void seen.push(decodeJson(msg.data) as JobEvent),
    });
    const submitted = await ok<JobView>('POST', `${am.url}/v1/jobs`, {
      name: 'synthetic-e2e',
      examples: { pipeline: PIPELINE, version: 1 },
      model: { kind: 'logistic' },
      training: {
        epochs: 3,
        batchSize: 32,
        optimizer: { kind: 'sgd', learningRate: 0.5 },
        checkpointEvery: 5,
        keepCheckpoints: 2,
        seed: 7,
      },
      cluster: { workers: 2, ps: 1 },
      output: { model: 'synthetic' },
    });
    const done = await waitFor(
      'the job to end',
      async () => {
        const view = await ok<JobView>('GET', `${am.url}/v1/jobs/${submitted.id}`);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(view.state) ? view : undefined;
      },
      240_000,
      250,
    );
    expect(done, JSON.stringify(done)).toMatchObject({ state: 'SUCCEEDED', modelVersion: 1 });
    expect(done.validation).toHaveLength(3);
    const last = done.validation[2]!.metrics;
    expect(last.auc).toBeGreaterThan(0.9);
    expect(last.loss).toBeLessThan(done.validation[0]!.metrics.loss + 1e-6);
    expect(done.progress.examplesSeen).toBe(3 * TRAIN);

    const events = (
      await ok<{ events: JobEvent[] }>('GET', `${am.url}/v1/jobs/${submitted.id}/events`)
    ).events;
    expect(events.filter((e) => e.type === 'job-state').map((e) => e.to)).toEqual([
      'SUBMITTED',
      'SCHEDULING',
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(events.filter((e) => e.type === 'checkpoint').length).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThan(0);
    await waitFor(
      'events on NATS',
      () => seen.filter((e) => e.jobId === submitted.id).length >= events.length,
      5_000,
    );

    const catalogue = await requestJson(
      nc,
      subjects.control(ControlPattern.modelCatalogue),
      {},
      { reply: modelCatalogueSchema, what: 'catalogue' },
    );
    expect(catalogue.versions).toEqual([
      expect.objectContaining({
        model: 'synthetic',
        version: 1,
        isDefault: true,
        jobId: submitted.id,
      }),
    ]);
    expect(catalogue.versions[0]!.objects.length).toBeGreaterThan(0);

    // No role process is left and every slot is free again.
    await waitFor(
      'slots released',
      async () =>
        (await ok<NodeList>('GET', `${am.url}/v1/nodes`)).nodes.every(
          (n) => n.slots.used === 0 && n.runningRoles.length === 0,
        ),
      20_000,
      100,
    );
  });
});
