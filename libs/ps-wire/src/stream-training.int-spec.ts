import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ControlPattern,
  encodeExample,
  FencingToken,
  modelSpecSchema,
  ParameterLayout,
  RecordHeader,
  RoleConfig,
  RoleReport,
  roleReportSchema,
  sequenceRangesOf,
  StreamExampleHeader,
  streamJobConsumer,
  streamJobSettingsSchema,
  streamPipelineSpecSchema,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import { initialStreamSnapshot } from '@dln/features';
import {
  connectNats,
  decodeJson,
  encodeJson,
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { artifactFromBlobs, selectBackend } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot, waitFor } from '@dln/testing';
import { parameterLayoutFor, StreamWorkerResult, syntheticExamples } from '@dln/training';
import { Objm } from '@nats-io/obj';
import { decodePsMessage, encodePsMessage } from './ps-codec';
import { NatsShardClient } from './ps-client';
import { runPsRole } from './roles/ps-role';
import { RoleRuntime } from './roles/role-runtime';
import { runStreamWorkerRole } from './roles/stream-worker-role';
import { ensureStreamJobConsumer, NatsStreamSource } from './stream-consumer';

const root = uniqueRoot('stream_training');
const subjects = new Subjects(root);
const pipeline = 'clicks';
const jobId = 'streamjob';
const WIDTH = 8;
const COUNT = 3200;
const names = Array.from({ length: WIDTH }, (_, i) => `x${i}`);
const snapshot = initialStreamSnapshot(
  streamPipelineSpecSchema.parse({
    mode: 'stream',
    name: pipeline,
    source: 'impressions',
    eventTime: 't',
    latenessMs: 0,
    features: names.map((name) => ({ name, kind: 'numeric', field: name, transform: 'none' })),
    label: { kind: 'binary', field: 'y' },
  }),
  new Date().toISOString(),
);
const schema = snapshot.outputSchema;
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [16] });
const training = trainingSettingsSchema.parse({
  epochs: 1,
  batchSize: 32,
  optimizer: { kind: 'adam', learningRate: 0.01 },
  updateMode: 'async',
  seed: 3,
});
const settings = streamJobSettingsSchema.parse({
  exportEvery: { steps: 12 },
  progressiveWindow: 400,
  ackWaitSeconds: 3,
});
const consumer = streamJobConsumer(jobId);
/** Known once a TensorFlow.js backend runs (beforeAll). */
let layout: ParameterLayout;
const quiet = (): void => undefined;

function roleConfig(kind: 'worker' | 'ps', index: number, attempt = 0): RoleConfig {
  return {
    token: { jobId, generation: 0, role: `${kind}-${index}`, attempt },
    kind,
    index,
    subjectRoot: root,
    jobName: jobId,
    workers: 2,
    shards: 1,
    model,
    training,
    outputSchema: schema,
    parameters: layout,
    examples: { pipeline, version: 1, trainCount: 0, validationCount: 0 },
    restoreFrom: null,
    start: 'fresh',
    resume: null,
    outputModel: 'stream-test',
    stream: { pipeline, consumer, settings },
  };
}

/** The ps shard's update count (a positions query answers it in `count`). */
async function updateCountOf(nc: NatsConnection, token: FencingToken): Promise<number> {
  const header = {
    token,
    shard: 0,
    step: 0,
    count: 0,
    chunk: 0,
    chunks: 1,
    offset: 0,
    total: layout.shardSizes[0] as number,
    positionsOnly: true,
  };
  const reply = await nc.request(subjects.psPull(jobId, 0), encodePsMessage(header));
  return decodePsMessage(reply.data).header.count;
}

describe('a stream job on real NATS: shared consumer, progressive metric, exports, redelivery', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    layout = parameterLayoutFor(model, schema, 1);
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'stream-training-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.streamExamplesStream(pipeline),
      subjects: [subjects.streamExamples(pipeline)],
    });
    const data = syntheticExamples(COUNT, WIDTH, 17, 'e');
    const { batch } = data;
    await publishAll(
      jetStreamOf(nc),
      data.recordIds.map((recordId, row) => {
        const headers = natsHeaders();
        headers.set(RecordHeader.recordId, recordId);
        headers.set(StreamExampleHeader.snapshotVersion, '1');
        headers.set(StreamExampleHeader.eventTime, String(row));
        const example = {
          dense: batch.dense.subarray(row * WIDTH, (row + 1) * WIDTH),
          ids: new Int32Array(0),
          label: batch.labels[row] as number,
        };
        const subject = subjects.streamExamples(pipeline);
        return { subject, data: encodeExample(example), headers, msgID: `${pipeline}:${recordId}` };
      }),
    );
    // The feature service's answer to streamSnapshot (the artifact pins it).
    nc.subscribe(subjects.control(ControlPattern.streamSnapshot), {
      callback: (_e, msg) => {
        msg.respond(encodeJson(snapshot));
      },
    });
    await ensureStreamJobConsumer(nc, subjects, {
      pipeline,
      consumer,
      settings,
      maxAckPending: 2 * 2 * training.batchSize,
    });
  });

  afterAll(async () => {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  it('consumes every example once, applies a redelivered batch once, exports versions as loss falls', async () => {
    const reports: RoleReport[] = [];
    nc.subscribe(subjects.jobReports(jobId), {
      callback: (_e, msg) => {
        reports.push(roleReportSchema.parse(decodeJson(msg.data)));
        if (msg.reply) msg.respond(encodeJson({ ok: true }));
      },
    });
    const stop = new AbortController();
    const runtime = async (name: string): Promise<RoleRuntime> => ({
      nc: await connectNats({ servers: TEST_NATS_URL, name }),
      signal: stop.signal,
      ready: quiet,
      log: quiet,
    });
    const psRuntime = await runtime('ps-0');
    const ps = runPsRole(roleConfig('ps', 0), psRuntime);
    ps.catch(quiet);

    // Worker 1's first incarnation takes a batch, pushes it, and dies before acknowledging it.
    const doomed = roleConfig('worker', 1);
    const doomedSource = new NatsStreamSource({
      nc,
      subjects,
      pipeline,
      consumer,
      schema,
      fetchWaitMs: 1000,
    });
    const taken = await doomedSource.fetch(training.batchSize, new AbortController().signal);
    expect(taken.deliveries.length).toBe(training.batchSize);
    const client = new NatsShardClient({
      nc,
      subjects,
      token: doomed.token,
      shardSizes: layout.shardSizes,
    });
    const firstPush = await client.push(
      0,
      0,
      training.batchSize,
      new Float32Array(layout.shardSizes[0] as number).fill(0.01),
      false,
      sequenceRangesOf(taken.deliveries.map((d) => d.seq)),
    );
    expect(firstPush.duplicate).toBeUndefined();
    expect(firstPush.updateCount).toBe(1);

    const results: StreamWorkerResult[] = [];
    const workers = await Promise.all([runtime('worker-0'), runtime('worker-1')]);
    const runs = workers.map((rt, index) =>
      runStreamWorkerRole(roleConfig('worker', index, index === 1 ? 1 : 0), rt, {
        onResult: (result) => (results[index] = result),
        progressEveryMs: 200,
      }),
    );
    const jsm = await jetStreamManagerOf(nc);
    const stream = subjects.streamExamplesStream(pipeline);
    let updates = -1;
    try {
      await waitFor(
        'every example acknowledged and 2 exports',
        async () => {
          const info = await jsm.consumers.info(stream, consumer);
          const exports = reports.filter((r) => r.type === 'exported').length;
          return info.ack_floor.stream_seq === COUNT && info.num_ack_pending === 0 && exports >= 2;
        },
        120_000,
        200,
      );
      // Everything is acknowledged: the workers only fetch (and worker 0 exports) from here on.
      updates = await updateCountOf(nc, roleConfig('worker', 0).token);
    } finally {
      stop.abort();
      await Promise.allSettled(runs);
      await ps.catch(quiet);
    }
    for (const run of runs) await run;

    // Every example acknowledged; the 32 redelivered ones were recognised, not applied again.
    const info = await jsm.consumers.info(stream, consumer);
    expect(info.ack_floor.stream_seq).toBe(COUNT);
    expect(info.num_pending).toBe(0);
    const duplicates = results.reduce((sum, r) => sum + r.duplicates, 0);
    expect(duplicates).toBe(training.batchSize);
    const examples = results.reduce((sum, r) => sum + r.examples, 0);
    expect(examples).toBe(COUNT - training.batchSize);
    // The shard applied the doomed push and every other push once: not the 32 re-sent ones.
    const pushes = results.reduce((sum, r) => sum + r.steps, 0);
    expect(updates).toBe(1 + pushes - duplicates);

    // Versions were exported with the progressive metric, pinned to snapshot 1, as the loss fell.
    const exported = reports.flatMap((r) => (r.type === 'exported' ? [r] : []));
    expect(exported.length).toBeGreaterThanOrEqual(2);
    const first = exported[0]!;
    const last = exported[exported.length - 1]!;
    expect(exported.every((r) => r.finite && r.stream?.pipelineVersion === 1)).toBe(true);
    expect(new Set(exported.map((r) => r.stream?.step)).size).toBe(exported.length);
    expect(last.metrics.examples).toBe(settings.progressiveWindow);
    expect(last.metrics.loss).toBeLessThan(first.metrics.loss - 0.02);
    const store = await new Objm(nc).open(subjects.bucket('models'));
    const blobs = new Map<string, Uint8Array>();
    for (const name of last.objects)
      blobs.set(
        name.slice(name.lastIndexOf('/') + 1),
        new Uint8Array((await store.getBlob(name))!),
      );
    expect(artifactFromBlobs(blobs).pipeline).toEqual(snapshot);
    const progress = reports.filter((r) => r.type === 'progress' && r.loss !== null);
    expect(progress.length).toBeGreaterThan(2);
  }, 180_000);

  it('a stopped stream worker ends at once, quietly, while no shard answers (it did not outlive its node)', async () => {
    // The first test stopped the job's ps: the worker's positions query finds no responder and
    // would be asked again for the client's whole unavailable window without the role's signal.
    const stop = new AbortController();
    const workerNc = await connectNats({ servers: TEST_NATS_URL, name: 'worker-stopped' });
    try {
      const run = runStreamWorkerRole(roleConfig('worker', 0, 7), {
        nc: workerNc,
        signal: stop.signal,
        ready: quiet,
        log: quiet,
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stoppedAt = performance.now();
      stop.abort();
      await expect(run).resolves.toBeUndefined();
      expect(performance.now() - stoppedAt).toBeLessThan(5_000);
    } finally {
      await workerNc.close();
    }
  }, 60_000);
});
