/**
 * npm run bench:inference — records/s of distributed inference (an inference job's roles, each a
 * separate Node process over the shared NATS: ps shards serving a model version, workers scoring
 * a materialized example stream from one shared consumer and publishing one score per record to
 * the predictions stream, acknowledged after the PubAck), next to the model alone in one process
 * (batches of the same size, no NATS). The model is the reference MLP of shared/PERFORMANCE.md.
 * Last line: JSON {records, model_only_per_s, w1ps1_per_s, w2ps1_per_s, w2ps2_per_s, load_avg}.
 */
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import {
  encodeExample,
  inferenceJobConsumer,
  inferenceJobSettingsSchema,
  RecordHeader,
  RoleConfig,
  RoleStart,
  Subjects,
  trainingSettingsSchema,
} from '@dln/contracts';
import { runRoleProcess } from '@dln/cluster';
import {
  connectNats,
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  predictionsStreamOrCreate,
  publishAll,
} from '@dln/messaging';
import {
  buildModel,
  denseBinarySchema,
  exportModelArtifact,
  predictBatch,
  REFERENCE_MLP,
  selectBackend,
} from '@dln/ml';
import {
  ensureInferenceConsumer,
  inferenceAckPendingFor,
  inferenceInputOf,
  roleProcessMain,
  RoleObjects,
  InferenceWorkerResult,
  runInferenceWorkerRole,
  runPsRoleOfAnyMode,
} from '@dln/ps-wire';
import { deleteStreamsOfRoot, uniqueRoot } from '@dln/testing';
import { LabelledExamples, parameterLayoutFor, syntheticExamples } from '@dln/training';

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const WIDTH = 64;
const BATCH = Number(process.env['BENCH_INFER_BATCH'] ?? 256);
const RECORDS = Number(process.env['BENCH_INFER_RECORDS'] ?? 40_000);
const ROUNDS = Math.max(1, Number(process.env['BENCH_INFER_ROUNDS'] ?? 2));
const schema = denseBinarySchema(WIDTH);
const pipeline = 'bench';
const MODEL = 'bench';
const training = trainingSettingsSchema.parse({
  epochs: 1,
  batchSize: BATCH,
  optimizer: { kind: 'adam', learningRate: 0.001 },
  updateMode: 'async',
  seed: 3,
});

/** A role child: the real inference roles inside @dln/cluster's role process. */
function childMain(kind: string): void {
  runRoleProcess((context) =>
    roleProcessMain(`bench-${kind}`, context, process.env, async (config, runtime) => {
      const quiet = { ...runtime, log: () => undefined };
      if (kind === 'ps') await runPsRoleOfAnyMode(config, quiet);
      else {
        let result: InferenceWorkerResult | undefined;
        await runInferenceWorkerRole(config, quiet, {
          reportFlushMs: 5000,
          onResult: (counts) => (result = counts),
        });
        // Written before the process exits (the exit would otherwise race the message).
        await new Promise<void>((resolve) =>
          process.send
            ? process.send({ type: 'bench.result', result }, () => resolve())
            : resolve(),
        );
      }
    }),
  );
}

function startChild(
  kind: 'ps' | 'worker',
  config: RoleConfig,
  onResult: (result: InferenceWorkerResult) => void = () => undefined,
): { done: Promise<void>; stop(): void } {
  const child = fork(__filename, ['--role', kind], {
    env: { ...process.env, NATS_URL },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  child.on('message', (message: unknown) => {
    const sent = message as { type?: string; result?: InferenceWorkerResult } | null;
    if (sent?.type === 'bench.result' && sent.result) onResult(sent.result);
  });
  child.send({ type: 'dln.role.config', key: config.token.role, config });
  const done = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${config.token.role} exited with ${code}`)),
    );
  });
  return { done, stop: () => void child.kill('SIGTERM') };
}

async function publishExamples(nc: NatsConnection, subjects: Subjects, data: LabelledExamples) {
  const { batch } = data;
  await publishAll(
    jetStreamOf(nc),
    data.recordIds.map((recordId, row) => {
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, recordId);
      return {
        subject: subjects.examples(pipeline, 1, 'train'),
        data: encodeExample({
          dense: batch.dense.subarray(row * WIDTH, (row + 1) * WIDTH),
          ids: new Int32Array(0),
          label: batch.labels[row] as number,
        }),
        headers,
      };
    }),
  );
}

/** One inference job with W workers and S shards: records/s from the first role start to the end. */
async function runJob(
  nc: NatsConnection,
  root: string,
  objects: string[],
  jobId: string,
  workers: number,
  shards: number,
): Promise<number> {
  const subjects = new Subjects(root);
  const settings = inferenceJobSettingsSchema.parse({
    model: MODEL,
    version: 1,
    input: { pipeline, version: 1 },
    batchSize: BATCH,
  });
  const consumer = inferenceJobConsumer(jobId);
  await ensureInferenceConsumer(nc, {
    input: inferenceInputOf(subjects, settings.input, { pipeline, version: 1 }),
    consumer,
    settings,
    maxAckPending: inferenceAckPendingFor(workers, BATCH),
  });
  // The AM's report handler: every report answered (the roles wait for that at their end).
  const am = nc.subscribe(subjects.jobReports(jobId), {
    callback: (_e, msg) => {
      msg.respond();
    },
  });
  const layout = parameterLayoutFor(REFERENCE_MLP, schema, shards);
  const config = (kind: 'worker' | 'ps', index: number): RoleConfig => ({
    token: { jobId, generation: 0, role: `${kind}-${index}`, attempt: 0 },
    kind,
    index,
    subjectRoot: root,
    jobName: 'bench',
    workers,
    shards,
    model: REFERENCE_MLP,
    training,
    outputSchema: schema,
    parameters: layout,
    examples: { pipeline, version: 1, trainCount: RECORDS, validationCount: 0 },
    restoreFrom: null,
    start: RoleStart.Fresh,
    resume: null,
    outputModel: MODEL,
    inference: {
      settings: { ...settings, version: 1 },
      objects,
      source: 'bench_raw',
      consumer,
    },
  });
  const ps = Array.from({ length: shards }, (_, i) => startChild('ps', config('ps', i)));
  const results: InferenceWorkerResult[] = [];
  const started = performance.now();
  try {
    const roles = Array.from({ length: workers }, (_, i) =>
      startChild('worker', config('worker', i), (result) => results.push(result)),
    );
    await Promise.all(roles.map((role) => role.done));
  } finally {
    for (const shard of ps) shard.stop();
    await Promise.all(ps.map((shard) => shard.done.catch(() => undefined)));
    am.unsubscribe();
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = RECORDS / seconds;
  const batches = results.reduce((sum, r) => sum + r.batches, 0);
  const per = (pick: (r: InferenceWorkerResult) => number) =>
    (results.reduce((sum, r) => sum + pick(r), 0) / Math.max(1, batches)).toFixed(2);
  console.log(
    `  ${jobId}: per batch of ${BATCH}: fetch ${per((r) => r.timing.fetchMs)} ms, decode+score ${per((r) => r.timing.scoreMs)} ms, publish ${per((r) => r.timing.publishMs)} ms, ack ${per((r) => r.timing.ackMs)} ms`,
  );
  const activeMs = Math.max(...results.map((r) => r.timing.activeMs));
  console.log(
    `  ${jobId}: ${batches} batches (mean ${(RECORDS / Math.max(1, batches)).toFixed(0)} records); scoring from the first message to the last ack ${(activeMs / 1000).toFixed(2)} s: ${Math.round(RECORDS / (activeMs / 1000))} records/s`,
  );
  console.log(
    `  ${jobId}: ${RECORDS} records in ${seconds.toFixed(2)} s (process start, weights pull and backend init included): ${Math.round(rate)} records/s`,
  );
  return rate;
}

async function main(): Promise<void> {
  await selectBackend({ log: () => undefined, warn: () => undefined });
  const root = uniqueRoot('bench_infer');
  const subjects = new Subjects(root);
  const nc = await connectNats({ servers: NATS_URL, name: 'bench-inference' });
  try {
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    const data = syntheticExamples(RECORDS, WIDTH, 5);
    await publishExamples(nc, subjects, data);
    await predictionsStreamOrCreate(nc, subjects, MODEL);
    const model = buildModel(REFERENCE_MLP, schema, training.seed);
    const artifact = await exportModelArtifact(model, {
      pipeline: { bench: 'examples only: no snapshot is read' },
      outputSchema: schema,
      validationLoss: 0,
      metadata: { bench: true },
    });
    const objects = await new RoleObjects(nc, subjects).putArtifact(`${MODEL}/bench`, artifact);
    console.log(
      `reference MLP 64-256-128-1, ${RECORDS} materialized examples, batch ${BATCH}, one score per record published`,
    );
    let modelOnly = 0;
    let w1 = 0;
    let w2 = 0;
    let w2s2 = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      console.log(
        `round ${round + 1} of ${ROUNDS} (load average ${loadavg()
          .map((v) => v.toFixed(2))
          .join(' ')})`,
      );
      const start = performance.now();
      for (let row = 0; row < RECORDS; row += BATCH) {
        const size = Math.min(BATCH, RECORDS - row);
        predictBatch(model, {
          size,
          denseWidth: WIDTH,
          idCount: 0,
          dense: data.batch.dense.subarray(row * WIDTH, (row + size) * WIDTH),
          ids: new Int32Array(0),
          labels: data.batch.labels.subarray(row, row + size),
        });
      }
      const rate = RECORDS / ((performance.now() - start) / 1000);
      console.log(`  model alone, one process: ${Math.round(rate)} records/s`);
      modelOnly = Math.max(modelOnly, rate);
      w1 = Math.max(w1, await runJob(nc, root, objects, `w1ps1-r${round}`, 1, 1));
      w2 = Math.max(w2, await runJob(nc, root, objects, `w2ps1-r${round}`, 2, 1));
      w2s2 = Math.max(w2s2, await runJob(nc, root, objects, `w2ps2-r${round}`, 2, 2));
    }
    model.dispose();
    console.log(
      `best of ${ROUNDS}: model alone ${Math.round(modelOnly)}, 1w+1ps ${Math.round(w1)}, 2w+1ps ${Math.round(w2)}, 2w+2ps ${Math.round(w2s2)} records/s`,
    );
    console.log(
      JSON.stringify({
        records: RECORDS,
        model_only_per_s: Math.round(modelOnly),
        w1ps1_per_s: Math.round(w1),
        w2ps1_per_s: Math.round(w2),
        w2ps2_per_s: Math.round(w2s2),
        load_avg: Number(loadavg()[0]!.toFixed(2)),
      }),
    );
  } finally {
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  }
}

if (process.argv[2] === '--role') {
  childMain(process.argv[3] ?? 'worker');
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
