import { MetricsService } from '@dln/platform';
import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';

type Labels = 'source' | 'transport';

/** Prometheus counters of the ingest path, by source and transport (rest | nats). */
@Injectable()
export class IngestMetrics {
  readonly accepted: Counter<Labels>;
  readonly stored: Counter<Labels>;
  readonly duplicates: Counter<Labels>;
  readonly rejected: Counter<Labels>;
  readonly deadLettered: Counter<'source'>;

  constructor(metrics: MetricsService) {
    const labels = ['source', 'transport'] as const;
    this.accepted = metrics.counter(
      'ingest_records_accepted_total',
      'Valid records taken by the raw stream',
      labels,
    );
    this.stored = metrics.counter('ingest_records_stored_total', 'Records newly stored', labels);
    this.duplicates = metrics.counter(
      'ingest_records_duplicate_total',
      'Records JetStream already had (same id in the duplicate window)',
      labels,
    );
    this.rejected = metrics.counter(
      'ingest_records_rejected_total',
      'Records refused by validation',
      labels,
    );
    this.deadLettered = metrics.counter(
      'ingest_records_dead_lettered_total',
      'Refused records sent to the dead-letter subject',
      ['source'],
    );
  }
}
