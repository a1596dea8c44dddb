import { MetricsService } from '@dln/platform';
import { Predictor } from '@dln/serving';
import { Gauge } from 'prom-client';

/**
 * Serving figures read at scrape time: where bodies were parsed, and model calls and rows of the
 * versions loaded now (rows / calls is the mean batch the micro-batcher reached).
 */
export function registerServingMetrics(metrics: MetricsService, predictor: Predictor): void {
  new Gauge({
    name: 'dln_prediction_bodies_parsed',
    help: 'Request bodies parsed since start, on the event loop (inline) or in a worker thread',
    labelNames: ['where'],
    registers: [metrics.registry],
    collect() {
      this.set({ where: 'inline' }, predictor.parsed.inline);
      this.set({ where: 'worker' }, predictor.parsed.worker);
    },
  });
  const sum = (pick: (stats: { calls: number; rows: number }) => number): number =>
    predictor.registry.servedVersions().reduce((total, v) => total + pick(v.batcher.stats), 0);
  new Gauge({
    name: 'dln_prediction_model_calls',
    help: 'Model calls of the versions loaded now',
    registers: [metrics.registry],
    collect() {
      this.set(sum((s) => s.calls));
    },
  });
  new Gauge({
    name: 'dln_prediction_model_rows',
    help: 'Rows scored by the versions loaded now',
    registers: [metrics.registry],
    collect() {
      this.set(sum((s) => s.rows));
    },
  });
}
