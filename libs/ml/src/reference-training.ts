import * as tf from '@tensorflow/tfjs';
import { ModelSpec, OutputSchema, TrainingSettings } from '@dln/contracts';
import { ExampleBatch, gatherRows } from './batch';
import { EarlyStopper, epochBatches } from './batching';
import { computeGradients, lossSettingsFor, predictBatch } from './gradients';
import { computeMetrics, Metrics } from './metrics';
import { buildModel } from './model-builder';
import { createOptimizer } from './optimizers';
import { readWeights, writeWeights } from './variables';

export interface EpochReport {
  epoch: number;
  steps: number;
  /** Mean training loss of the epoch, weighted by examples. */
  loss: number;
  validation?: Metrics;
}

export interface StepReport {
  epoch: number;
  step: number;
  loss: number;
  examples: number;
}

export interface ReferenceTrainingOptions {
  spec: ModelSpec;
  schema: OutputSchema;
  settings: TrainingSettings;
  /** Row indices of each worker's share of `train`; default: one worker with every row. */
  splits?: readonly (readonly number[])[];
  validation?: ExampleBatch;
  onStep?: (report: StepReport) => void;
}

export interface ReferenceTrainingResult {
  model: tf.LayersModel;
  parameters: Float32Array;
  history: EpochReport[];
  steps: number;
  stoppedEarly: boolean;
}

/**
 * Single-process training equal to sync distributed training: step s of an epoch uses the union
 * of every worker's s-th batch (a worker that has run out adds nothing), the same gradient code
 * and the same flat optimizer as the ps, with parameters held in one Float32Array.
 */
export function trainReference(
  train: ExampleBatch,
  options: ReferenceTrainingOptions,
): ReferenceTrainingResult {
  const { spec, schema, settings } = options;
  const splits = options.splits ?? [Array.from({ length: train.size }, (_, i) => i)];
  const model = buildModel(spec, schema, settings.seed);
  const parameters = readWeights(model);
  const optimizer = createOptimizer(settings.optimizer, parameters.length);
  const loss = lossSettingsFor(spec, schema, settings);
  const stopper = settings.earlyStopping ? new EarlyStopper(settings.earlyStopping) : undefined;
  const history: EpochReport[] = [];
  let steps = 0;
  let stoppedEarly = false;
  for (let epoch = 0; epoch < settings.epochs && !stoppedEarly; epoch += 1) {
    const perWorker = splits.map((split, worker) =>
      epochBatches(split, settings.batchSize, settings.seed, epoch, worker),
    );
    const stepCount = Math.max(0, ...perWorker.map((batches) => batches.length));
    let lossSum = 0;
    let exampleSum = 0;
    for (let step = 0; step < stepCount; step += 1) {
      const rows = perWorker.flatMap((batches) => batches[step] ?? []);
      const result = computeGradients(model, gatherRows(train, rows), loss);
      optimizer.apply(parameters, result.gradients);
      writeWeights(model, parameters);
      steps += 1;
      lossSum += result.loss * result.exampleCount;
      exampleSum += result.exampleCount;
      options.onStep?.({ epoch, step: steps, loss: result.loss, examples: result.exampleCount });
    }
    const report: EpochReport = {
      epoch,
      steps: stepCount,
      loss: exampleSum > 0 ? lossSum / exampleSum : NaN,
    };
    if (options.validation) report.validation = evaluate(model, options.validation, schema);
    history.push(report);
    if (stopper && report.validation) {
      stoppedEarly = stopper.shouldStop(
        report.validation[settings.earlyStopping?.metric ?? 'loss'] ?? NaN,
      );
    }
  }
  return { model, parameters, history, steps, stoppedEarly };
}

/** Validation metrics of a model on a set of examples, predicted in evaluation mode in slices. */
export function evaluate(
  model: tf.LayersModel,
  examples: ExampleBatch,
  schema: OutputSchema,
  sliceSize = 4096,
): Metrics {
  const units = schema.label.kind === 'class' ? schema.label.classes.length : 1;
  const outputs = new Float32Array(examples.size * units);
  for (let start = 0; start < examples.size; start += sliceSize) {
    const rows = Array.from(
      { length: Math.min(sliceSize, examples.size - start) },
      (_, i) => start + i,
    );
    outputs.set(predictBatch(model, gatherRows(examples, rows)), start * units);
  }
  return computeMetrics(schema.label.kind, outputs, examples.labels, units);
}
