import type { EarlyStoppingMetric, EvaluationMetrics, OutputSchema } from '@dln/contracts';

/** Metrics that improve downwards; the others (auc, accuracy) improve upwards. */
const LOWER_IS_BETTER: ReadonlySet<EarlyStoppingMetric> = new Set(['loss', 'mae', 'rmse']);

export function lowerIsBetter(metric: EarlyStoppingMetric): boolean {
  return LOWER_IS_BETTER.has(metric);
}

/** The metric's value, or undefined when the evaluation lacks it or it is not a finite number. */
export function metricValue(
  metrics: EvaluationMetrics,
  metric: EarlyStoppingMetric,
): number | undefined {
  const value = metrics[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** How much worse `candidate` is than `reference` (positive = worse, in the metric's own units). */
export function worsening(
  metric: EarlyStoppingMetric,
  candidate: number,
  reference: number,
): number {
  return lowerIsBetter(metric) ? candidate - reference : reference - candidate;
}

/** Every number of an evaluation is finite (a NaN or infinite one means a diverged model). */
export function allFinite(metrics: EvaluationMetrics): boolean {
  return Object.values(metrics).every(
    (value) => value === undefined || (typeof value === 'number' && Number.isFinite(value)),
  );
}

const METRICS_BY_LABEL: Record<OutputSchema['label']['kind'], readonly EarlyStoppingMetric[]> = {
  binary: ['loss', 'auc', 'accuracy'],
  class: ['loss', 'accuracy'],
  numeric: ['loss', 'mae', 'rmse'],
};

/** Validation metrics the workers report for a label kind. */
export function metricsForLabel(
  kind: OutputSchema['label']['kind'],
): readonly EarlyStoppingMetric[] {
  return METRICS_BY_LABEL[kind];
}
