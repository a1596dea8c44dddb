import * as tf from '@tensorflow/tfjs';
import { EvaluationMetrics, OutputSchema } from '@dln/contracts';
import { evaluate, ExampleBatch, Metrics } from '@dln/ml';

/** The contracts' form of @dln/ml metrics (an undefined AUC, one class only, is left out). */
export function toEvaluationMetrics(metrics: Metrics): EvaluationMetrics {
  const result: EvaluationMetrics = { loss: metrics.loss, examples: metrics.count };
  if (metrics.auc !== undefined && Number.isFinite(metrics.auc)) result.auc = metrics.auc;
  if (metrics.accuracy !== undefined && Number.isFinite(metrics.accuracy))
    result.accuracy = metrics.accuracy;
  if (metrics.mae !== undefined && Number.isFinite(metrics.mae)) result.mae = metrics.mae;
  if (metrics.rmse !== undefined && Number.isFinite(metrics.rmse)) result.rmse = metrics.rmse;
  return result;
}

/** Validation metrics of a model on a batch (dropout off). */
export function evaluateModel(
  model: tf.LayersModel,
  batch: ExampleBatch,
  schema: OutputSchema,
): EvaluationMetrics {
  return toEvaluationMetrics(evaluate(model, batch, schema));
}
