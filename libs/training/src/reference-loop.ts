import { EvaluationMetrics, ModelSpec, OutputSchema, TrainingSettings } from '@dln/contracts';
import {
  buildModel,
  computeGradients,
  createOptimizer,
  ExampleBatch,
  gatherRows,
  lossSettingsFor,
  readWeights,
  writeWeights,
} from '@dln/ml';
import { concatBatches } from './batches';
import { evaluateModel } from './evaluate';
import { batchAt, epochOrder, stepsPerEpoch } from './schedule';

export interface ReferenceTrainingOptions {
  model: ModelSpec;
  schema: OutputSchema;
  training: TrainingSettings;
  /** Every worker's part of the training examples (one part: plain single-process training). */
  parts: readonly ExampleBatch[];
  validation?: ExampleBatch;
  onEpoch?: (epoch: number, metrics: EvaluationMetrics | undefined) => void;
}

export interface ReferenceTrainingResult {
  params: Float32Array;
  metrics?: EvaluationMetrics;
  steps: number;
  examples: number;
  /** Wall time of the training steps alone (no evaluation), milliseconds. */
  trainMs: number;
}

/**
 * Single-process training on the union of the workers' batches: step s of an epoch trains on
 * worker 0's s-th batch, then worker 1's, ... as one batch, with the same flat optimizer the ps
 * runs. Sync distributed training reaches the same parameters up to floating-point noise.
 */
export function trainReference(options: ReferenceTrainingOptions): ReferenceTrainingResult {
  const { model: spec, schema, training, parts } = options;
  const model = buildModel(spec, schema, training.seed);
  try {
    const params = readWeights(model);
    const optimizer = createOptimizer(training.optimizer, params.length);
    const loss = lossSettingsFor(spec, schema, training);
    const steps = stepsPerEpoch(
      parts.map((part) => part.size),
      training.batchSize,
    );
    let metrics: EvaluationMetrics | undefined;
    let examples = 0;
    let trainMs = 0;
    let stepCount = 0;
    for (let epoch = 0; epoch < training.epochs; epoch += 1) {
      const orders = parts.map((part, worker) =>
        epochOrder(part.size, training.seed, epoch, worker),
      );
      const started = performance.now();
      for (let s = 0; s < steps; s += 1) {
        const batch = concatBatches(
          parts.map((part, worker) =>
            gatherRows(part, batchAt(orders[worker] as number[], s, training.batchSize)),
          ),
        );
        if (batch.size === 0) continue;
        const result = computeGradients(model, batch, loss);
        optimizer.apply(params, result.gradients);
        writeWeights(model, params);
        examples += batch.size;
        stepCount += 1;
      }
      trainMs += performance.now() - started;
      metrics = options.validation ? evaluateModel(model, options.validation, schema) : undefined;
      options.onEpoch?.(epoch, metrics);
    }
    return { params, steps: stepCount, examples, trainMs, ...(metrics ? { metrics } : {}) };
  } finally {
    model.dispose();
  }
}
