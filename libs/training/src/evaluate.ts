import * as tf from '@tensorflow/tfjs';
import { EvaluationMetrics, OutputSchema, outputUnits } from '@dln/contracts';
import { computeMetrics, ExampleBatch, predictBatch } from '@dln/ml';
import { sliceBatch } from './batches';

const EVALUATION_CHUNK = 4096;

/** Validation metrics of a model on a batch (dropout off), predicted in bounded chunks. */
export function evaluateModel(
  model: tf.LayersModel,
  batch: ExampleBatch,
  schema: OutputSchema,
): EvaluationMetrics {
  const units = outputUnits(schema);
  const outputs = new Float32Array(batch.size * units);
  for (let start = 0; start < batch.size; start += EVALUATION_CHUNK) {
    outputs.set(
      predictBatch(model, sliceBatch(batch, start, start + EVALUATION_CHUNK)),
      start * units,
    );
  }
  const metrics = computeMetrics(schema.label.kind, outputs, batch.labels, units);
  const result: EvaluationMetrics = { loss: metrics.loss, examples: batch.size };
  if (metrics.auc !== undefined && Number.isFinite(metrics.auc)) result.auc = metrics.auc;
  if (metrics.accuracy !== undefined && Number.isFinite(metrics.accuracy))
    result.accuracy = metrics.accuracy;
  if (metrics.mae !== undefined) result.mae = metrics.mae;
  if (metrics.rmse !== undefined) result.rmse = metrics.rmse;
  return result;
}
