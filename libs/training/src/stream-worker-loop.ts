import * as tf from '@tensorflow/tfjs';
import {
  EvaluationMetrics,
  FencingToken,
  ModelSpec,
  OutputSchema,
  outputUnits,
  ParameterLayout,
  sequenceRangesOf,
  StreamJobSettings,
  TrainingSettings,
} from '@dln/contracts';
import {
  buildModel,
  computeGradients,
  ExampleBatch,
  gatherRows,
  LossSettings,
  lossSettingsFor,
  packShard,
  predictBatch,
  unpackShard,
  writeWeights,
} from '@dln/ml';
import { ReportSink, ShardClient } from './ports';
import { ProgressiveWindow } from './progressive-window';
import { StreamDelivery, StreamSource } from './stream-source';

/** What worker 0 hands its exporter: the parameters of every shard, pulled at the export. */
export interface StreamExport {
  params: Float32Array;
  step: number;
  /** Progressive metrics over the window (null before any example was scored). */
  metrics: EvaluationMetrics | null;
  /** The newest stream snapshot version an example of this worker carried. */
  pipelineVersion: number | null;
  /** Examples this worker has trained on. */
  examples: number;
  /** False when a parameter or the progressive loss is NaN/infinite (never catalogued). */
  finite: boolean;
}

export interface StreamWorkerLoopOptions {
  token: FencingToken;
  index: number;
  model: ModelSpec;
  schema: OutputSchema;
  training: TrainingSettings;
  layout: ParameterLayout;
  settings: StreamJobSettings;
  source: StreamSource;
  client: ShardClient;
  report: ReportSink;
  signal: AbortSignal;
  /** The first step to push: the shards' acknowledged position of this worker (its predecessor's end). */
  startStep?: number;
  /** Worker 0: stores a model version (every `settings.exportEvery`). */
  exporter?: (exported: StreamExport) => Promise<void>;
  progressEveryMs?: number;
  now?: () => number;
}

export interface StreamWorkerResult {
  steps: number;
  examples: number;
  duplicates: number;
  exports: number;
  metrics: EvaluationMetrics | null;
}

/**
 * A stream job's worker: fetch a bounded batch from the shared consumer, score it with the
 * current parameters (progressive validation), compute its gradient, push it to every shard
 * named by its stream sequences, and acknowledge the messages once every shard confirmed.
 * Messages delivered before are pushed one by one (each either applied or recognised as a
 * duplicate at every shard) and never scored again. Runs until its signal is aborted.
 */
export class StreamWorkerLoop {
  private readonly shards: number;
  private readonly loss: LossSettings;
  private readonly full: Float32Array;
  private readonly window: ProgressiveWindow;
  private readonly now: () => number;
  private carried: Float32Array[] | undefined;
  private step: number;
  private readonly counts = { steps: 0, examples: 0, duplicates: 0, exports: 0 };
  private pipelineVersion: number | null = null;

  constructor(private readonly options: StreamWorkerLoopOptions) {
    this.shards = options.layout.shardSizes.length;
    this.loss = lossSettingsFor(options.model, options.schema, options.training);
    this.full = new Float32Array(options.layout.totalSize);
    this.window = new ProgressiveWindow(
      options.settings.progressiveWindow,
      options.schema.label.kind,
      outputUnits(options.schema),
    );
    this.now = options.now ?? (() => performance.now());
    this.step = options.startStep ?? 0;
  }

  async run(): Promise<StreamWorkerResult> {
    const o = this.options;
    const model = buildModel(o.model, o.schema, o.training.seed);
    try {
      await this.loop(model);
    } finally {
      model.dispose();
    }
    return { ...this.counts, metrics: this.window.metrics() };
  }

  private async loop(model: tf.LayersModel): Promise<void> {
    const o = this.options;
    const progress = { at: this.now(), examples: 0 };
    const exportState = { at: this.now(), step: this.counts.steps };
    while (!o.signal.aborted) {
      const fetched = await o.source.fetch(o.training.batchSize, o.signal);
      if (fetched.deliveries.length > 0) {
        const trained = await this.trainOn(model, fetched.deliveries, fetched.batch);
        await o.source.ack(fetched.deliveries.map((d) => d.seq));
        this.counts.examples += trained;
        progress.examples += trained;
      }
      const now = this.now();
      if (now - progress.at >= (o.progressEveryMs ?? 1000)) {
        this.reportProgress(progress.examples, (now - progress.at) / 1000);
        progress.at = now;
        progress.examples = 0;
      }
      if (o.exporter && this.exportDue(exportState) && !o.signal.aborted) {
        await this.export(model, o.exporter);
        exportState.at = this.now();
        exportState.step = this.counts.steps;
      }
    }
  }

  /** Trains on one fetch; returns the examples trained on (redelivered ones included). */
  private async trainOn(
    model: tf.LayersModel,
    deliveries: readonly StreamDelivery[],
    batch: ExampleBatch,
  ): Promise<number> {
    const fresh = deliveries.filter((d) => !d.redelivered);
    for (const d of deliveries) {
      if (d.snapshotVersion !== null && d.snapshotVersion > (this.pipelineVersion ?? 0))
        this.pipelineVersion = d.snapshotVersion;
    }
    let trained = 0;
    if (fresh.length > 0) {
      const rows = fresh.flatMap((d) => (d.row === null ? [] : [d.row]));
      trained += await this.pushBatch(
        model,
        gatherRows(batch, rows),
        fresh.map((d) => d.seq),
        true,
      );
    }
    for (const d of deliveries) {
      if (!d.redelivered) continue;
      trained += await this.pushBatch(
        model,
        gatherRows(batch, d.row === null ? [] : [d.row]),
        [d.seq],
        false,
      );
    }
    return trained;
  }

  /** One step: score (fresh examples), gradient, push to every shard with the batch's sequences. */
  private async pushBatch(
    model: tf.LayersModel,
    examples: ExampleBatch,
    seqs: readonly number[],
    score: boolean,
  ): Promise<number> {
    const batch = sequenceRangesOf(seqs);
    if (examples.size === 0) {
      // Undecodable messages: the shards record their sequences, nothing is applied.
      await this.pushAll(0, null, batch);
      return 0;
    }
    await this.loadParams(model);
    if (score) this.window.add(predictBatch(model, examples), examples.labels);
    const result = computeGradients(model, examples, this.loss);
    const duplicates = await this.pushAll(result.exampleCount, result.gradients, batch);
    this.counts.duplicates += duplicates;
    return duplicates === this.shards ? 0 : examples.size;
  }

  /** Pushes to every shard; returns how many shards answered `duplicate`. */
  private async pushAll(
    count: number,
    gradients: Float32Array | null,
    batch: ReturnType<typeof sequenceRangesOf>,
  ): Promise<number> {
    const { client, layout } = this.options;
    const step = this.step;
    const replies = await Promise.all(
      Array.from({ length: this.shards }, (_, shard) => {
        const part =
          gradients === null
            ? null
            : this.shards === 1
              ? gradients
              : packShard(layout, shard, gradients);
        return client.push(shard, step, count, part, count > 0, batch);
      }),
    );
    this.step += 1;
    this.counts.steps += 1;
    const parts = replies.map((reply) => reply.params);
    this.carried = parts.every((part) => part !== undefined)
      ? (parts as Float32Array[])
      : undefined;
    return replies.filter((reply) => reply.duplicate === true).length;
  }

  private async loadParams(model: tf.LayersModel): Promise<void> {
    const parts =
      this.carried ??
      (await Promise.all(
        Array.from({ length: this.shards }, (_, shard) =>
          this.options.client.pull(shard, this.step),
        ),
      ));
    this.carried = undefined;
    parts.forEach((values, shard) => unpackShard(this.options.layout, shard, values, this.full));
    writeWeights(model, this.full);
  }

  private exportDue(state: { at: number; step: number }): boolean {
    const every = this.options.settings.exportEvery;
    if (this.counts.steps === state.step) return false;
    if (every.steps !== undefined && this.counts.steps - state.step >= every.steps) return true;
    return every.seconds !== undefined && this.now() - state.at >= every.seconds * 1000;
  }

  private async export(
    model: tf.LayersModel,
    exporter: (exported: StreamExport) => Promise<void>,
  ): Promise<void> {
    this.carried = undefined;
    await this.loadParams(model);
    const params = Float32Array.from(this.full);
    const metrics = this.window.metrics();
    const finite =
      params.every(Number.isFinite) && (metrics ? Number.isFinite(metrics.loss) : true);
    await exporter({
      params,
      step: this.step,
      metrics,
      pipelineVersion: this.pipelineVersion,
      examples: this.counts.examples,
      finite,
    });
    this.counts.exports += 1;
  }

  private reportProgress(examples: number, seconds: number): void {
    const metrics = this.window.metrics();
    this.options.report({
      type: 'progress',
      token: this.options.token,
      epoch: 0,
      step: this.step,
      loss: metrics && Number.isFinite(metrics.loss) ? metrics.loss : null,
      examples: this.counts.examples,
      examplesPerSecond: examples / Math.max(1e-3, seconds),
    });
  }
}
