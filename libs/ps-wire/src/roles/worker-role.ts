import {
  ControlPattern,
  DlnError,
  EvaluationMetrics,
  pipelineVersionSchema,
  RoleConfig,
  Subjects,
} from '@dln/contracts';
import { requestJson } from '@dln/messaging';
import {
  batchFromExamples,
  buildModel,
  exportModelArtifact,
  ExampleBatch,
  writeWeights,
} from '@dln/ml';
import {
  LoopStart,
  loopStartOf,
  ReportSink,
  ShardClient,
  stepsPerEpoch,
  WorkerLoop,
  WorkerResult,
  workerSplitOf,
} from '@dln/training';
import type { NatsConnection } from '@nats-io/transport-node';
import { readExamples } from '../examples-reader';
import { supersessionSignal } from '../job-control';
import { RoleObjects } from '../object-blobs';
import { NatsShardClient } from '../ps-client';
import { ReportOutbox } from '../report-outbox';
import { NatsEpochGate } from '../role-links';
import { isFenced, parseRoleConfig, RoleRuntime, startBackend } from './role-runtime';

export interface WorkerRoleOptions {
  /** Worker 0 exports the model at the end (default true; benchmarks turn it off). */
  exportModel?: boolean;
  /** Called with the loop's result (timings) before the role reports `finished`. */
  onResult?: (result: WorkerResult) => void;
  /** Wraps the shards' client (tests put fault points around pushes). */
  wrapClient?: (client: ShardClient) => ShardClient;
  /** How long the role waits at its end for the AM to take its last reports (default 60 s). */
  reportFlushMs?: number;
  /** Awaited once the role is ready, before its first step (benchmarks start every worker at once). */
  beforeLoop?: () => Promise<void>;
}

/**
 * The worker role: reads its part of the training examples (workerSplitOf of each record id),
 * trains with the ps shards over NATS, reports progress, passes the AM's epoch gate; worker 0
 * evaluates each epoch and, at the end, exports the model version and reports `exported`.
 */
export async function runWorkerRole(
  raw: unknown,
  runtime: RoleRuntime,
  options: WorkerRoleOptions = {},
): Promise<void> {
  const config = parseRoleConfig(raw, 'worker');
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  const outbox = new ReportOutbox(nc, subjects, config.token.jobId);
  const superseded = supersessionSignal(nc, subjects, config.token);
  const signal = AbortSignal.any([runtime.signal, superseded.signal]);
  try {
    await trainAsWorker(config, { ...runtime, signal }, outbox.send, options);
  } catch (error) {
    if (isFenced(error) || superseded.signal.aborted) {
      // A newer incarnation took over: stop here, without a word (the AM knows).
      log('warn', 'worker superseded, stopping', {
        reason: superseded.signal.aborted
          ? String(superseded.signal.reason)
          : (error as Error).message,
      });
      throw error instanceof Error && isFenced(error)
        ? error
        : new DlnError('FENCED', String(superseded.signal.reason));
    }
    throw error;
  } finally {
    superseded.close();
    if (!(await outbox.flush(options.reportFlushMs ?? 60_000)))
      log('warn', 'reports not acknowledged by the AM', { pending: outbox.pending });
    outbox.close();
  }
}

async function trainAsWorker(
  config: RoleConfig,
  runtime: RoleRuntime,
  report: ReportSink,
  options: WorkerRoleOptions,
): Promise<void> {
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  // The backend compiles (CPU) while the examples stream in (I/O): a replacement starts sooner.
  const [, data] = await Promise.all([startBackend(runtime), loadData(nc, subjects, config)]);
  const shardClient = new NatsShardClient({
    nc,
    subjects,
    token: config.token,
    shardSizes: config.parameters.shardSizes,
    signal: runtime.signal,
  });
  const start = await startOf(config, data.partSizes, shardClient);
  log('info', 'examples loaded', {
    train: data.train.size,
    parts: data.partSizes,
    validation: data.validation?.size ?? 0,
    start: config.start,
    ...(start ? { resumeAt: start } : {}),
  });
  report({ type: 'started', token: config.token });
  runtime.ready();
  const loop = new WorkerLoop({
    token: config.token,
    index: config.index,
    workers: config.workers,
    model: config.model,
    schema: config.outputSchema,
    training: config.training,
    layout: config.parameters,
    train: data.train,
    partSizes: data.partSizes,
    ...(data.validation ? { validation: data.validation } : {}),
    client: options.wrapClient ? options.wrapClient(shardClient) : shardClient,
    gate: new NatsEpochGate(nc, subjects, config.token, { signal: runtime.signal }),
    report,
    signal: runtime.signal,
    ...(start ? { start } : {}),
  });
  let result: WorkerResult;
  try {
    await options.beforeLoop?.();
    result = await loop.run();
  } catch (error) {
    // Told to stop while waiting (gate, shards): a stop, not a failure.
    if (!runtime.signal.aborted) throw error;
    log('info', 'worker stopped', {
      error: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  options.onResult?.(result);
  log('info', 'training loop ended', {
    epochs: result.epochs,
    steps: result.steps,
    stopped: result.stopped,
    timing: result.timing,
  });
  if (result.stopped) return;
  if (result.params && options.exportModel !== false) {
    await exportModel(nc, subjects, config, result, report);
  }
  report({ type: 'finished', token: config.token });
}

interface WorkerData {
  train: ExampleBatch;
  partSizes: number[];
  validation?: ExampleBatch;
}

/**
 * Where this incarnation starts. A replacement (same generation) or a rollback (restored shards)
 * goes on where the ps shards acknowledged this worker: the lowest position over the shards (a
 * push that reached only some of them is sent again, and those that have it answer without
 * applying it). For a rollback those are the positions stored with the shards' checkpoint parts
 * (sync: the checkpoint's step), more exact than the manifest's. Undefined: from the start.
 */
async function startOf(
  config: RoleConfig,
  partSizes: readonly number[],
  client: NatsShardClient,
): Promise<LoopStart | undefined> {
  if (config.start === 'fresh' && config.restoreFrom === null) return undefined;
  const steps = stepsPerEpoch(partSizes, config.training.batchSize);
  const positions = await Promise.all(
    config.parameters.shardSizes.map((_, shard) => client.positions(shard)),
  );
  const reached = Math.min(...positions.map((p) => p.positions[config.index] ?? 0));
  return reached === 0 ? undefined : loopStartOf(reached, steps, config.training.epochs);
}

async function loadData(
  nc: NatsConnection,
  subjects: Subjects,
  config: RoleConfig,
): Promise<WorkerData> {
  const { pipeline, version, trainCount, validationCount } = config.examples;
  const partSizes = new Array<number>(config.workers).fill(0);
  const validation =
    config.index === 0 && validationCount > 0
      ? readExamples(nc, subjects, {
          pipeline,
          version,
          split: 'validation',
          expected: validationCount,
        })
      : undefined;
  validation?.catch(() => undefined); // awaited below, after the training split
  const train = await readExamples(nc, subjects, {
    pipeline,
    version,
    split: 'train',
    expected: trainCount,
    keep: (recordId) => {
      const worker = workerSplitOf(recordId, config.workers);
      partSizes[worker] = (partSizes[worker] as number) + 1;
      return worker === config.index;
    },
  });
  const data: WorkerData = {
    train: batchFromExamples(train.examples, config.outputSchema),
    partSizes,
  };
  if (validation) {
    data.validation = batchFromExamples((await validation).examples, config.outputSchema);
  }
  return data;
}

async function exportModel(
  nc: NatsConnection,
  subjects: Subjects,
  config: RoleConfig,
  result: WorkerResult,
  report: ReportSink,
): Promise<void> {
  const { pipeline, version, trainCount } = config.examples;
  const described = await requestJson(
    nc,
    subjects.control(ControlPattern.pipelineDescribe),
    { pipeline, version },
    {
      reply: pipelineVersionSchema,
      what: `pipeline ${pipeline} v${version}`,
      timeoutMs: 15_000,
    },
  );
  const metrics: EvaluationMetrics = result.metrics ?? {
    loss: result.lastLoss ?? Number.NaN,
    examples: 0,
  };
  const model = buildModel(config.model, config.outputSchema, config.training.seed);
  try {
    writeWeights(model, result.params as Float32Array);
    const artifact = await exportModelArtifact(model, {
      pipeline: described.snapshot,
      outputSchema: config.outputSchema,
      validationLoss: metrics.loss,
      metadata: {
        jobId: config.token.jobId,
        jobName: config.jobName,
        generation: config.token.generation,
        pipeline,
        pipelineVersion: version,
        trainExamples: trainCount,
        validation: metrics,
      },
    });
    const prefix = `${config.outputModel}/${config.token.jobId}-g${config.token.generation}`;
    const objects = await new RoleObjects(nc, subjects).putArtifact(prefix, artifact);
    report({
      type: 'exported',
      token: config.token,
      objects,
      metrics,
      trainExamples: trainCount,
      finite: true,
    });
  } catch (error) {
    throw error instanceof DlnError
      ? error
      : new DlnError(
          'INTERNAL',
          `export failed: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
  } finally {
    model.dispose();
  }
}
