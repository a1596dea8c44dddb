import { DlnError, PipelineSnapshot, RoleConfig, Subjects } from '@dln/contracts';
import { NatsConnection } from '@dln/messaging';
import { ArtifactFile, buildModel, unpackShard, writeWeights } from '@dln/ml';
import type { LayersModel } from '@tensorflow/tfjs';
import { inferenceInputOf } from '../inference-consumer';
import { InferenceIntake } from '../inference-intake';
import {
  examplesDecoder,
  InferenceTarget,
  rawRecordsDecoder,
  snapshotOfPipelineBlob,
} from '../inference-scoring';
import { RoleObjects } from '../object-blobs';
import { supersessionSignal } from '../job-control';
import { NatsShardClient } from '../ps-client';
import { ReportOutbox } from '../report-outbox';
import { inferenceOf } from './inference-ps-role';
import { InferenceWorkerResult, runInferenceLoop } from './inference-worker-loop';

export type { InferenceWorkerResult } from './inference-worker-loop';
import { isFenced, parseRoleConfig, RoleRuntime, startBackend } from './role-runtime';

export interface InferenceWorkerOptions {
  /** Called after a batch's scores were published, before its messages are acknowledged. */
  beforeAck?: (batch: number) => Promise<void>;
  progressEveryMs?: number;
  reportFlushMs?: number;
  /** Called with the counts and timings once the scoring loop ended (before the last reports). */
  onResult?: (result: InferenceWorkerResult) => void;
}

/**
 * The worker role of an inference job: pulls the model version's parameters from every shard
 * once, builds the model, then takes batches from the job's shared consumer (examples, or raw
 * records it encodes with the version's pinned snapshot), scores each with one model call, publishes one prediction message per record (job-scoped msg id) and
 * acknowledges the batch only once every PubAck is in. It reports `progress` (records scored,
 * records/s) and, once a bounded input is drained (nothing to deliver, nothing out with any
 * worker), `finished`; on a raw stream it scores until stopped. A stop or a supersession ends it quietly; its unacknowledged records are
 * redelivered to the other workers or its replacement, and their copies dropped by JetStream.
 */
export async function runInferenceWorkerRole(
  raw: unknown,
  runtime: RoleRuntime,
  options: InferenceWorkerOptions = {},
): Promise<InferenceWorkerResult | undefined> {
  const config = parseRoleConfig(raw, 'worker');
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  const outbox = new ReportOutbox(nc, subjects, config.token.jobId);
  const superseded = supersessionSignal(nc, subjects, config.token);
  const signal = AbortSignal.any([runtime.signal, superseded.signal]);
  try {
    return await scoreAsWorker(config, { ...runtime, signal }, outbox, options);
  } catch (error) {
    if (isFenced(error) || signal.aborted) {
      log('warn', 'inference worker stopped', {
        reason: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
    throw error;
  } finally {
    superseded.close();
    if (!(await outbox.flush(options.reportFlushMs ?? 60_000)))
      log('warn', 'reports not acknowledged by the AM', { pending: outbox.pending });
    outbox.close();
  }
}

async function pullModel(config: RoleConfig, client: NatsShardClient): Promise<LayersModel> {
  const layout = config.parameters;
  const full = new Float32Array(layout.totalSize);
  const slices = await Promise.all(layout.shardSizes.map((_, shard) => client.pull(shard, 0)));
  slices.forEach((slice, shard) => unpackShard(layout, shard, slice, full));
  const model = buildModel(config.model, config.outputSchema, config.training.seed);
  writeWeights(model, full);
  return model;
}

/** The pipeline snapshot the version pins: its artifact's pipeline blob (a raw stream's encoder). */
async function pinnedSnapshot(
  nc: NatsConnection,
  subjects: Subjects,
  objects: readonly string[],
): Promise<PipelineSnapshot> {
  const name = objects.find((object) => object.endsWith(`/${ArtifactFile.Pipeline}`));
  if (!name) throw new DlnError('INVALID_REQUEST', `the artifact has no ${ArtifactFile.Pipeline}`);
  return snapshotOfPipelineBlob(await new RoleObjects(nc, subjects).getBlob('models', name));
}

async function scoreAsWorker(
  config: RoleConfig,
  runtime: RoleRuntime,
  outbox: ReportOutbox,
  options: InferenceWorkerOptions,
): Promise<InferenceWorkerResult | undefined> {
  const { nc, log, signal } = runtime;
  const inference = inferenceOf(config);
  const { settings } = inference;
  const subjects = new Subjects(config.subjectRoot);
  await startBackend(runtime);
  const client = new NatsShardClient({
    nc,
    subjects,
    token: config.token,
    shardSizes: config.parameters.shardSizes,
    signal,
  });
  const input = inferenceInputOf(subjects, settings.input, config.examples);
  const decode = input.bounded
    ? examplesDecoder(config.outputSchema)
    : rawRecordsDecoder(await pinnedSnapshot(nc, subjects, inference.objects));
  const model = await pullModel(config, client);
  const target: InferenceTarget = {
    subject: subjects.predictions(settings.model),
    jobId: config.token.jobId,
    model: settings.model,
    version: settings.version,
    source: inference.source,
    schema: config.outputSchema,
  };
  outbox.send({ type: 'started', token: config.token });
  runtime.ready();
  log('info', 'inference worker scoring', { model: settings.model, version: settings.version });
  const result: InferenceWorkerResult = {
    scored: 0,
    duplicates: 0,
    unscorable: 0,
    batches: 0,
    timing: { fetchMs: 0, scoreMs: 0, publishMs: 0, ackMs: 0, activeMs: 0 },
  };
  // A replacement goes on counting from its predecessor's last progress.
  const before = config.resume ?? { step: 0, examples: 0 };
  const started = Date.now();
  let lastProgress = 0;
  const progress = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastProgress < (options.progressEveryMs ?? 1000)) return;
    lastProgress = now;
    const seconds = Math.max(1e-3, (now - started) / 1000);
    // Records whose score this worker stored (a redelivered copy is its predecessor's).
    const stored = result.scored - result.duplicates;
    outbox.send({
      type: 'progress',
      token: config.token,
      epoch: 0,
      step: before.step + result.batches,
      loss: null,
      examples: before.examples + stored,
      examplesPerSecond: stored / seconds,
    });
  };
  const intake = new InferenceIntake(nc, input.stream, inference.consumer, settings.batchSize);
  try {
    await intake.start();
    await runInferenceLoop({
      nc,
      intake,
      model,
      target,
      decode,
      batchSize: settings.batchSize,
      fetchWaitMs: settings.fetchWaitMs,
      bounded: input.bounded,
      signal,
      result,
      ...(options.beforeAck ? { beforeAck: options.beforeAck } : {}),
      onBatch: () => progress(false),
    });
  } finally {
    model.dispose();
  }
  progress(true);
  options.onResult?.(result);
  log('info', 'inference worker ended', { ...result, stopped: signal.aborted });
  if (signal.aborted) return result;
  outbox.send({ type: 'finished', token: config.token });
  return result;
}
