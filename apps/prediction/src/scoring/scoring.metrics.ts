import { MetricsService } from '@dln/platform';
import { Gauge } from 'prom-client';
import { ScorersService } from './scorers.service';

/** Scorer figures read at scrape time, one series per scorer this instance runs. */
export function registerScoringMetrics(metrics: MetricsService, scorers: ScorersService): void {
  const gauge = (
    name: string,
    help: string,
    read: (s: ReturnType<ScorersService['list']>[number]) => number | null,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['scorer', 'model', 'source'],
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const status of scorers.list()) {
          const value = read(status);
          if (value === null) continue;
          const { name: scorer, model, source } = status.spec;
          this.set({ scorer, model, source }, value);
        }
      },
    });
  };
  gauge(
    'dln_prediction_scored',
    'Records this instance scored and published since start',
    (s) => s.scored,
  );
  gauge(
    'dln_prediction_scored_duplicates',
    'Published scores JetStream dropped as copies (redeliveries)',
    (s) => s.duplicates,
  );
  gauge(
    'dln_prediction_unscorable',
    'Records answered with an error instead of a score',
    (s) => s.unscorable,
  );
  gauge(
    'dln_prediction_scorer_lag_records',
    'Records of the scorer not yet delivered to any instance',
    (s) => s.lagRecords,
  );
  gauge(
    'dln_prediction_scorer_lag_seconds',
    "From the newest scored record's storage to its score",
    (s) => (s.lagMs === null ? null : s.lagMs / 1000),
  );
}
