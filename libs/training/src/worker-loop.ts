import * as tf from '@tensorflow/tfjs';
import {
  EvaluationMetrics,
  FencingToken,
  ModelSpec,
  OutputSchema,
  ParameterLayout,
  TrainingSettings,
} from '@dln/contracts';
import {
  buildModel,
  computeGradients,
  epochBatches,
  ExampleBatch,
  gatherRows,
  lossSettingsFor,
  LossSettings,
  packShard,
  unpackShard,
  writeWeights,
} from '@dln/ml';
import { evaluateModel } from './evaluate';
import { EpochGate, ReportSink, ShardClient } from './ports';
import { examplesBefore, LoopStart } from './resume';
import { stepsPerEpoch } from './schedule';

export interface WorkerLoopOptions {
  token: FencingToken;
  index: number;
  workers: number;
  model: ModelSpec;
  schema: OutputSchema;
  training: TrainingSettings;
  layout: ParameterLayout;
  /** This worker's part of the training examples, in stream order. */
  train: ExampleBatch;
  /** The size of every worker's part (the sync schedule runs as many steps as the largest). */
  partSizes: readonly number[];
  /** Worker 0 evaluates on it at the end of each epoch. */
  validation?: ExampleBatch;
  client: ShardClient;
  gate: EpochGate;
  report: ReportSink;
  signal?: AbortSignal;
  /**
   * Resume here (epoch, step within the epoch; `step` may equal the epoch's steps: only its end)
   * instead of at the start. Progress reports count the examples before it (examplesBefore).
   */
  start?: LoopStart;
  progressEveryMs?: number;
  /** Take the next step's parameters from the push reply instead of pulling (default true). */
  pullWithPush?: boolean;
  now?: () => number;
}

/** Where a worker's time went, summed over its steps (milliseconds). */
export interface StepTiming {
  steps: number;
  examples: number;
  pullMs: number;
  computeMs: number;
  pushMs: number;
  /** Time the pushes were held at the shards (sync barrier + apply), part of pushMs. */
  heldMs: number;
  totalMs: number;
  /** Wall clock (ms since the epoch, comparable across processes) of the first step's start and last step's end. */
  firstStepAt: number;
  lastStepAt: number;
}

export interface WorkerResult {
  epochs: number;
  steps: number;
  examples: number;
  lastLoss: number | null;
  /** True when the loop ended because its signal was aborted. */
  stopped: boolean;
  /** Worker 0: the final parameters (full vector) and their validation metrics. */
  params?: Float32Array;
  metrics?: EvaluationMetrics;
  timing: StepTiming;
}

/**
 * One worker's training loop: per step, pull every shard, compute the gradient of its batch,
 * push it to every shard; progress reports; at the end of each epoch worker 0 evaluates, and
 * every worker passes the AM's epoch gate. Free of any transport (see ShardClient, EpochGate).
 */
export class WorkerLoop {
  private readonly shards: number;
  private readonly loss: LossSettings;
  private readonly full: Float32Array;
  private readonly localSplit: number[];
  /** The shards' values a push answered with, for the step after it. */
  private carried: { step: number; parts: Float32Array[] } | undefined;
  private readonly now: () => number;
  private readonly timing: StepTiming = {
    steps: 0,
    examples: 0,
    pullMs: 0,
    computeMs: 0,
    pushMs: 0,
    heldMs: 0,
    totalMs: 0,
    firstStepAt: 0,
    lastStepAt: 0,
  };

  constructor(private readonly options: WorkerLoopOptions) {
    this.shards = options.layout.shardSizes.length;
    this.loss = lossSettingsFor(options.model, options.schema, options.training);
    this.full = new Float32Array(options.layout.totalSize);
    this.localSplit = Array.from({ length: options.train.size }, (_, i) => i);
    this.now = options.now ?? (() => performance.now());
    if (options.partSizes[options.index] !== options.train.size) {
      throw new Error(
        `worker ${options.index} holds ${options.train.size} examples, the split says ${options.partSizes[options.index]}`,
      );
    }
  }

  async run(): Promise<WorkerResult> {
    const o = this.options;
    const model = buildModel(o.model, o.schema, o.training.seed);
    try {
      return await this.loop(model);
    } finally {
      model.dispose();
    }
  }

  private async loop(model: tf.LayersModel): Promise<WorkerResult> {
    const o = this.options;
    const { batchSize, epochs, seed } = o.training;
    const steps = stepsPerEpoch(o.partSizes, batchSize);
    const progress = {
      examples: o.start ? examplesBefore(o.start, o.train.size, batchSize) : 0,
      lossSum: 0,
      lossCount: 0,
      at: this.now(),
      since: 0,
    };
    let lastLoss: number | null = null;
    let metrics: EvaluationMetrics | undefined;
    let epoch = o.start?.epoch ?? 0;
    let first = o.start?.step ?? 0;
    for (; epoch < epochs; epoch += 1, first = 0) {
      const batches = epochBatches(this.localSplit, batchSize, seed, epoch, o.index);
      const epochLoss = { sum: 0, count: 0 };
      for (let s = first; s < steps; s += 1) {
        if (o.signal?.aborted) return this.result(epoch, lastLoss, true);
        const indices = batches[s] ?? [];
        const step = epoch * steps + s;
        if (indices.length === 0) {
          if (o.training.updateMode === 'async') break;
          await this.pushAll(step, 0, null);
          continue;
        }
        const loss = await this.trainStep(model, step, indices);
        lastLoss = loss;
        epochLoss.sum += loss * indices.length;
        epochLoss.count += indices.length;
        progress.lossSum += loss * indices.length;
        progress.lossCount += indices.length;
        progress.examples += indices.length;
        progress.since += indices.length;
        if (this.now() - progress.at >= (o.progressEveryMs ?? 1000))
          this.reportProgress(epoch, step + 1, progress);
      }
      this.reportProgress(epoch, (epoch + 1) * steps, progress);
      if (o.index === 0) {
        // Without a validation split the AM's gate still needs an evaluation: the training loss.
        metrics = o.validation
          ? evaluateModel(await this.loadParams(model, (epoch + 1) * steps), o.validation, o.schema)
          : {
              loss: epochLoss.count > 0 ? epochLoss.sum / epochLoss.count : Number.NaN,
              examples: 0,
            };
        o.report({ type: 'evaluation', token: o.token, epoch, metrics });
      }
      const proceed = await o.gate.pass(epoch);
      if (!proceed) break;
      // Async: the other workers pushed since our last reply; start the epoch from a fresh pull.
      if (o.training.updateMode === 'async') this.carried = undefined;
    }
    const done = Math.min(epoch + 1, epochs);
    if (o.index !== 0) return this.result(done, lastLoss, false);
    // After the last gate every worker is done: in async mode the shards changed since the evaluation.
    await this.loadParams(model, done * steps);
    const params = Float32Array.from(this.full);
    if (o.validation && (o.training.updateMode === 'async' || !metrics))
      metrics = evaluateModel(model, o.validation, o.schema);
    return { ...this.result(done, lastLoss, false), params, ...(metrics ? { metrics } : {}) };
  }

  private async trainStep(model: tf.LayersModel, step: number, indices: number[]): Promise<number> {
    const started = this.now();
    const carried = this.carried;
    this.carried = undefined;
    if (carried?.step === step) this.useParams(model, carried.parts);
    else await this.loadParams(model, step);
    const pulled = this.now();
    const batch = gatherRows(this.options.train, indices);
    const result = computeGradients(model, batch, this.loss);
    const computed = this.now();
    const withParams = this.options.pullWithPush !== false;
    const held = await this.pushAll(step, result.exampleCount, result.gradients, withParams);
    const pushed = this.now();
    const t = this.timing;
    t.steps += 1;
    t.examples += indices.length;
    t.pullMs += pulled - started;
    t.computeMs += computed - pulled;
    t.pushMs += pushed - computed;
    t.heldMs += held;
    t.totalMs += pushed - started;
    t.lastStepAt = wallClock();
    if (t.steps === 1) t.firstStepAt = t.lastStepAt - (pushed - started);
    return result.loss;
  }

  private async loadParams(model: tf.LayersModel, step: number): Promise<tf.LayersModel> {
    const { client } = this.options;
    const parts = await Promise.all(
      Array.from({ length: this.shards }, (_, shard) => client.pull(shard, step)),
    );
    return this.useParams(model, parts);
  }

  private useParams(model: tf.LayersModel, parts: readonly Float32Array[]): tf.LayersModel {
    parts.forEach((values, shard) => unpackShard(this.options.layout, shard, values, this.full));
    writeWeights(model, this.full);
    return model;
  }

  /**
   * Pushes to every shard; returns the longest time a shard held the push. When every shard sent
   * its values back (`withParams`), they are kept for the next step, which then needs no pull.
   */
  private async pushAll(
    step: number,
    count: number,
    gradients: Float32Array | null,
    withParams = false,
  ): Promise<number> {
    const { client, layout } = this.options;
    const acks = await Promise.all(
      Array.from({ length: this.shards }, (_, shard) => {
        const part =
          gradients === null
            ? null
            : this.shards === 1
              ? gradients
              : packShard(layout, shard, gradients);
        return client.push(shard, step, count, part, withParams);
      }),
    );
    const parts = acks.map((ack) => ack.params);
    if (withParams && parts.every((part) => part !== undefined)) {
      this.carried = { step: step + 1, parts: parts as Float32Array[] };
    }
    return Math.max(0, ...acks.map((ack) => ack.heldMs));
  }

  private reportProgress(
    epoch: number,
    step: number,
    progress: { examples: number; lossSum: number; lossCount: number; at: number; since: number },
  ): void {
    const now = this.now();
    const seconds = Math.max(1e-3, (now - progress.at) / 1000);
    const loss = progress.lossCount > 0 ? progress.lossSum / progress.lossCount : null;
    this.options.report({
      type: 'progress',
      token: this.options.token,
      epoch,
      step,
      loss: loss !== null && Number.isFinite(loss) ? loss : null,
      examples: progress.examples,
      examplesPerSecond: progress.since / seconds,
    });
    progress.lossSum = 0;
    progress.lossCount = 0;
    progress.since = 0;
    progress.at = now;
  }

  private result(epochs: number, lastLoss: number | null, stopped: boolean): WorkerResult {
    return {
      epochs,
      steps: this.timing.steps,
      examples: this.timing.examples,
      lastLoss,
      stopped,
      timing: { ...this.timing },
    };
  }
}

/** Milliseconds since the Unix epoch, sub-millisecond, comparable between processes of a host. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}
