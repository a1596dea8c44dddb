import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPattern,
  inferenceJobConsumer,
  inferenceJobSettingsSchema,
  modelSpecSchema,
  OutputSchema,
  PipelineVersion,
  pipelineSpecSchema,
  RoleConfig,
  RoleReport,
  roleReportSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  encodeJson,
  ensureStream,
  jetStreamManagerOf,
  NatsConnection,
  predictionsStreamOrCreate,
} from '@dln/messaging';
import { selectBackend } from '@dln/ml';
import {
  DEFAULT_SERVING_LIMITS,
  encodeRawRecords,
  LoadedModel,
  RawDelivery,
  servableFromBlobs,
} from '@dln/serving';
import {
  deleteStreamsOfRoot,
  ensureRawStream,
  publishRawRecords,
  readPredictions,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { LabelledExamples, parameterLayoutFor, syntheticExamples } from '@dln/training';
import { ensureInferenceConsumer, inferenceInputOf } from './inference-consumer';
import { RoleObjects } from './object-blobs';
import { runInferencePsRole } from './roles/inference-ps-role';
import { InferenceWorkerResult, runInferenceWorkerRole } from './roles/inference-worker-role';
import { RoleRuntime } from './roles/role-runtime';
import { publishExamples, runRoleCluster } from './testing/role-cluster';

const root = uniqueRoot('infer');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const source = 'synthetic_source';
const scored = 'cluster-test';
const WIDTH = 4;
const names = Array.from({ length: WIDTH }, (_, i) => `x${i}`);
const schema: OutputSchema = {
  formatVersion: 1,
  dense: names.map((name, offset) => ({ name, offset, width: 1 })),
  denseWidth: WIDTH,
  ids: [],
  label: { kind: 'binary' },
};
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [8] });
const training = trainingSettingsSchema.parse({
  epochs: 1,
  batchSize: 32,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  seed: 4,
});
const train = syntheticExamples(700, WIDTH, 8, 't');
const validation = syntheticExamples(300, WIDTH, 9, 'v');
const SHARDS = 2;
const WORKERS = 2;
const quiet = (): void => undefined;

/** The feature service's answer to pipelineDescribe (the training export pins the snapshot). */
function describedVersion(): PipelineVersion {
  const spec = pipelineSpecSchema.parse({
    name: pipeline,
    source,
    features: names.map((name) => ({ name, kind: 'numeric', field: name, transform: 'none' })),
    label: { kind: 'binary', field: 'y' },
  });
  return {
    pipeline,
    version: 1,
    fittedAt: new Date().toISOString(),
    recordCount: 1000,
    sourceSequence: 1000,
    snapshot: {
      snapshotVersion: 1,
      spec,
      features: names.map((name) => ({ name, count: 1000, missing: 0 })),
      label: { count: 1000, positives: 300 },
    },
    outputSchema: schema,
    materialization: {
      status: 'done',
      run: 1,
      counts: { train: 700, validation: 300, rejected: 0, duplicates: 0 },
      processed: 1000,
    },
  };
}

/** What the exported model computes in-process through libs/serving, per record id. */
function servedScores(loaded: LoadedModel, data: LabelledExamples): Map<string, number> {
  const { batch } = data;
  const scores = loaded.run({ size: batch.size, dense: batch.dense, ids: batch.ids });
  return new Map(data.recordIds.map((id, row) => [id, scores[row] as number]));
}

describe('distributed inference: ps shards serve a model version, workers score (real NATS)', () => {
  let nc: NatsConnection;
  let objects: string[];
  let layout: ReturnType<typeof parameterLayoutFor>;
  let loaded: LoadedModel;
  const expected = new Map<string, number>();

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    layout = parameterLayoutFor(model, schema, SHARDS);
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'inference-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishExamples(nc, subjects.examples(pipeline, 1, 'train'), train);
    await publishExamples(nc, subjects.examples(pipeline, 1, 'validation'), validation);
    nc.subscribe(subjects.control(ControlPattern.pipelineDescribe), {
      callback: (_e, msg) => {
        msg.respond(encodeJson(describedVersion()));
      },
    });
    const run = await runRoleCluster({
      natsUrl: TEST_NATS_URL,
      root,
      jobId: 'trainjob',
      workers: 2,
      shards: SHARDS,
      model,
      schema,
      training,
      examples: { pipeline, version: 1, trainCount: 700, validationCount: 300 },
      exportModel: true,
    });
    const exported = run.reports.find((r) => r.type === 'exported');
    if (exported?.type !== 'exported') throw new Error('no exported report');
    objects = exported.objects;
    const store = new RoleObjects(nc, subjects);
    const blobs = new Map<string, Uint8Array>();
    for (const name of objects) blobs.set(name, await store.getBlob('models', name));
    loaded = new LoadedModel(scored, 1, await servableFromBlobs(blobs), DEFAULT_SERVING_LIMITS);
    for (const part of [train, validation])
      for (const [id, score] of servedScores(loaded, part)) expected.set(id, score);
  }, 300_000);

  afterAll(async () => {
    loaded?.dispose();
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  async function runInference(
    jobId: string,
    /** A worker killed at a batch; with `ps`, that shard dies too and is replaced before it. */
    kill: { worker: number; atBatch: number; ps?: number } | null,
    /** A raw stream never ends: the workers are stopped once this holds. */
    stream?: { input: { source: string }; stopWhen: () => Promise<boolean> },
  ): Promise<{ results: (InferenceWorkerResult | undefined)[]; reports: RoleReport[] }> {
    const settings = inferenceJobSettingsSchema.parse({
      model: scored,
      version: 1,
      input: stream?.input ?? { pipeline, version: 1 },
      batchSize: 50,
      ackWaitSeconds: 2,
    });
    const consumer = inferenceJobConsumer(jobId);
    await predictionsStreamOrCreate(nc, subjects, scored);
    await ensureInferenceConsumer(nc, {
      input: inferenceInputOf(subjects, settings.input, { pipeline, version: 1 }),
      consumer,
      settings,
      maxAckPending: 2 * WORKERS * settings.batchSize,
    });
    const config = (kind: 'worker' | 'ps', index: number, attempt = 0): RoleConfig => ({
      token: { jobId, generation: 0, role: `${kind}-${index}`, attempt },
      kind,
      index,
      subjectRoot: root,
      jobName: jobId,
      workers: WORKERS,
      shards: SHARDS,
      model,
      training,
      outputSchema: schema,
      parameters: layout,
      examples: { pipeline, version: 1, trainCount: 700, validationCount: 300 },
      restoreFrom: null,
      start: attempt === 0 ? 'fresh' : 'replacement',
      resume: null,
      outputModel: scored,
      inference: { settings: { ...settings, version: 1 }, objects, source, consumer },
    });
    const reports: RoleReport[] = [];
    const observer = await connectNats({ servers: TEST_NATS_URL, name: `${jobId}-am` });
    observer.subscribe(subjects.jobReports(jobId), {
      callback: (_e, msg) => {
        reports.push(roleReportSchema.parse(decodeJson(msg.data)));
        msg.respond();
      },
    });
    const stopPs = new AbortController();
    const connections: NatsConnection[] = [];
    const runtime = async (name: string, signal: AbortSignal): Promise<RoleRuntime> => {
      const conn = await connectNats({ servers: TEST_NATS_URL, name });
      connections.push(conn);
      return { nc: conn, signal, ready: quiet, log: quiet };
    };
    const shardRuntimes = await Promise.all(
      Array.from({ length: SHARDS }, (_, i) => runtime(`${jobId}-ps-${i}`, stopPs.signal)),
    );
    const shards = Promise.all(
      shardRuntimes.map((rt, i) => runInferencePsRole(config('ps', i), rt)),
    );
    shards.catch(() => undefined); // awaited below
    await waitFor(
      'the shards to start',
      () => reports.filter((r) => r.type === 'started').length === SHARDS,
      120_000,
    );
    const replacements: Promise<void>[] = [];
    /** The shard's process dies (its connection closes); attempt 1 loads the slice again. */
    const replaceShard = async (index: number): Promise<void> => {
      await shardRuntimes[index]!.nc.close();
      const rt = await runtime(`${jobId}-ps-${index}-a1`, stopPs.signal);
      replacements.push(runInferencePsRole(config('ps', index, 1), rt));
      await waitFor(
        `ps-${index} replaced`,
        () =>
          reports.some(
            (r) => r.type === 'started' && r.token.role === `ps-${index}` && r.token.attempt === 1,
          ),
        120_000,
      );
    };
    const results: (InferenceWorkerResult | undefined)[] = [];
    const stopWorkers = new AbortController();
    let killDone = false;
    let replacementAcked = (): void => undefined;
    const firstReplacementAck = new Promise<void>((resolve) => (replacementAcked = resolve));
    const workerRun = async (index: number, attempt: number): Promise<void> => {
      const rt = await runtime(`${jobId}-worker-${index}-a${attempt}`, stopWorkers.signal);
      const killed = kill && kill.worker === index && attempt === 0 ? kill : null;
      const replacement = kill !== null && kill.worker === index && attempt > 0;
      try {
        results[index + WORKERS * attempt] = await runInferenceWorkerRole(
          config('worker', index, attempt),
          rt,
          {
            reportFlushMs: 5000,
            // The process dies between its PubAcks and its acks: its batch was published, not acknowledged.
            beforeAck: async (batch) => {
              if (killed && batch === killed.atBatch) {
                killDone = true;
                await rt.nc.close();
                throw new Error('killed');
              }
              if (replacement) replacementAcked();
              // The survivors go slowly until the kill, then hold their acks until the
              // replacement has scored a batch: however slow its start, it finds records.
              else if (kill && !killed) {
                if (killDone) await firstReplacementAck;
                else await new Promise((resolve) => setTimeout(resolve, 150));
              }
            },
          },
        );
      } catch (error) {
        if (!killed) throw error;
        if (killed.ps !== undefined) await replaceShard(killed.ps);
        // Its replacement (attempt 1) takes its place on the same consumer.
        await workerRun(index, attempt + 1);
      }
    };
    try {
      const workers = Promise.all(Array.from({ length: WORKERS }, (_, i) => workerRun(i, 0)));
      workers.catch(() => undefined); // awaited below
      if (stream) {
        await waitFor('the stream scored', stream.stopWhen, 120_000, 200);
        stopWorkers.abort();
      }
      await workers;
    } finally {
      stopPs.abort();
      await shards.catch(() => undefined);
      await Promise.all(replacements);
      for (const conn of connections) if (!conn.isClosed()) await conn.drain();
      await observer.drain();
    }
    return { results, reports };
  }

  function checkScores(messages: Awaited<ReturnType<typeof readPredictions>>, jobId: string): void {
    const mine = messages.filter((m) => m.job === jobId);
    expect(mine.length).toBe(expected.size);
    const seen = new Set<string>();
    for (const message of mine) {
      expect(seen.has(message.id)).toBe(false);
      seen.add(message.id);
      expect(message.model).toBe(scored);
      expect(message.version).toBe(1);
      expect(message.source).toBe(source);
      expect(message.error).toBeUndefined();
      expect(
        Math.abs((message.score as number) - (expected.get(message.id) as number)),
      ).toBeLessThan(1e-5);
    }
    expect(seen.size).toBe(expected.size);
  }

  it('publishes exactly one score per record, equal to the exported model served in-process', async () => {
    const { results, reports } = await runInference('inferjob', null);
    const predictions = await readPredictions(nc, subjects, scored);
    checkScores(predictions, 'inferjob');
    const total = results.reduce((sum, r) => sum + (r?.scored ?? 0), 0);
    expect(total).toBe(1000);
    expect(results.every((r) => (r?.scored ?? 0) > 0)).toBe(true);
    expect(
      reports
        .filter((r) => r.type === 'finished')
        .map((r) => r.token.role)
        .sort(),
    ).toEqual(['ps-0', 'ps-1', 'worker-0', 'worker-1']);
    const progress = reports.filter((r) => r.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
  }, 300_000);

  it('a worker killed between its PubAcks and its acks is replaced: still one score per record', async () => {
    // ps-1 dies with it: the replacement worker pulls from a shard that reloaded its slice.
    const { results, reports } = await runInference('inferkill', { worker: 1, atBatch: 3, ps: 1 });
    const predictions = await readPredictions(nc, subjects, scored);
    checkScores(predictions, 'inferkill');
    // The killed batch was redelivered and re-published: JetStream dropped those copies.
    const duplicates = results.reduce((sum, r) => sum + (r?.duplicates ?? 0), 0);
    expect(duplicates).toBeGreaterThan(0);
    expect(
      reports.some(
        (r) => r.type === 'finished' && r.token.role === 'worker-1' && r.token.attempt === 1,
      ),
    ).toBe(true);
    expect(results[1 + WORKERS]?.scored).toBeGreaterThan(0);
  }, 300_000);

  it('scores a source raw stream through the pinned pipeline, one score per record, until stopped', async () => {
    await ensureRawStream(nc, subjects, source);
    const records: Record<string, unknown>[] = Array.from({ length: 240 }, (_, row) => {
      const dense = train.batch.dense.subarray(row * WIDTH, (row + 1) * WIDTH);
      const record: Record<string, unknown> = { id: `raw${row}` };
      names.forEach((name, i) => (record[name] = dense[i]));
      return record;
    });
    records.push({ id: 'rawbad', x0: 'not a number', x1: 0, x2: 0, x3: 0 });
    await publishRawRecords(nc, subjects, source, records, 'id', (_, i) => i % 2);
    const jobId = 'inferraw';
    const mine = async () =>
      (await readPredictions(nc, subjects, scored)).filter((m) => m.job === jobId);
    const { results, reports } = await runInference(jobId, null, {
      input: { source },
      stopWhen: async () => (await mine()).length >= records.length,
    });
    // What the prediction service computes on the same stored records.
    const deliveries: RawDelivery[] = records.map((record) => ({
      recordId: String(record['id']),
      body: encodeJson(record),
      storedAt: 0,
    }));
    const { batch, rowOf, errors } = encodeRawRecords(loaded, deliveries);
    const servedRaw = loaded.run(batch);
    const messages = await mine();
    expect(messages).toHaveLength(records.length);
    expect(new Set(messages.map((m) => m.id)).size).toBe(records.length);
    for (const message of messages) {
      const i = deliveries.findIndex((d) => d.recordId === message.id);
      expect(message.source).toBe(source);
      if (rowOf[i]! < 0) {
        expect(message.error).toBe(errors[i]);
        expect(message.score).toBeUndefined();
      } else {
        expect(Math.abs(message.score! - servedRaw[rowOf[i]!]!)).toBeLessThan(1e-5);
      }
    }
    expect(messages.filter((m) => m.error !== undefined).map((m) => m.id)).toEqual(['rawbad']);
    // An unbounded input has no end: the workers stopped when told, without `finished`.
    expect(results.reduce((sum, r) => sum + (r?.scored ?? 0), 0)).toBe(records.length);
    expect(reports.some((r) => r.type === 'finished' && r.token.role.startsWith('worker'))).toBe(
      false,
    );
  }, 300_000);

  it('an inference shard refuses pushes', async () => {
    const { NatsShardClient } = await import('./ps-client');
    const jobId = 'infernopush';
    const stop = new AbortController();
    const conn = await connectNats({ servers: TEST_NATS_URL, name: 'nopush' });
    // The AM's handler answers reports (the shard waits for its last ones at its end).
    const am = nc.subscribe(subjects.jobReports(jobId), {
      callback: (_e, msg) => {
        msg.respond();
      },
    });
    const settings = inferenceJobSettingsSchema.parse({
      model: scored,
      version: 1,
      input: { pipeline, version: 1 },
    });
    const config: RoleConfig = {
      token: { jobId, generation: 0, role: 'ps-0', attempt: 0 },
      kind: 'ps',
      index: 0,
      subjectRoot: root,
      jobName: jobId,
      workers: 1,
      shards: 1,
      model,
      training,
      outputSchema: schema,
      parameters: parameterLayoutFor(model, schema, 1),
      examples: { pipeline, version: 1, trainCount: 700, validationCount: 300 },
      restoreFrom: null,
      start: 'fresh',
      resume: null,
      outputModel: scored,
      inference: {
        settings: { ...settings, version: 1 },
        objects,
        source,
        consumer: inferenceJobConsumer(jobId),
      },
    };
    let ready = false;
    const shard = runInferencePsRole(config, {
      nc: conn,
      signal: stop.signal,
      ready: () => (ready = true),
      log: quiet,
    });
    await waitFor('the shard to serve', () => ready, 120_000);
    const client = new NatsShardClient({
      nc,
      subjects,
      token: { jobId, generation: 0, role: 'worker-0', attempt: 0 },
      shardSizes: config.parameters.shardSizes,
      unavailableMs: 2000,
    });
    const values = await client.pull(0, 0);
    expect(values.length).toBe(config.parameters.totalSize);
    await expect(
      client.push(0, 0, 1, new Float32Array(config.parameters.totalSize)),
    ).rejects.toThrow(/takes no pushes/);
    stop.abort();
    await shard;
    am.unsubscribe();
    await conn.drain();
  }, 300_000);
});
