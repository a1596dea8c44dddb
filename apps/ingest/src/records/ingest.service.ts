import { DlnError, ErrorCode, IngestOptions, IngestResult, Subjects } from '@dln/contracts';
import { jetStreamOf, type JetStreamClient, type NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { BodyItem, prepareRecords, RefusedRecord, reportRejections } from '@dln/records';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IngestConfig } from '../ingest.config';
import { INGEST_CONFIG } from '../ingest.tokens';
import { SourcesService } from '../sources/sources.service';
import { IngestMetrics } from './ingest-metrics';
import { PartialPublishError, publishRecords } from './record-publisher';

export type Transport = 'rest' | 'nats';

export interface IngestOutcome {
  result: IngestResult;
  /** Every refused record with its value (the result lists at most maxReportedRejections). */
  refused: RefusedRecord[];
}

/** Validates a request's records against the source and stores the valid ones in its raw stream. */
@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);
  private readonly js: JetStreamClient;

  constructor(
    private readonly sources: SourcesService,
    private readonly metrics: IngestMetrics,
    @Inject(NATS_CONNECTION) nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
  ) {
    this.js = jetStreamOf(nats);
  }

  async ingest(
    source: string,
    items: readonly BodyItem[],
    options: IngestOptions,
    transport: Transport,
  ): Promise<IngestOutcome> {
    const declaration = await this.sources.declaration(source);
    const { records, refused } = prepareRecords(declaration, items, options);
    const labels = { source, transport };
    if (refused.length > 0) this.metrics.rejected.inc(labels, refused.length);
    const nothing = options.atomic && refused.length > 0;
    let counts = { stored: 0, duplicates: 0 };
    if (!nothing) {
      try {
        counts = await publishRecords(
          this.js,
          this.subjects,
          source,
          declaration.partitions,
          records,
          this.config.INGEST_PUBLISH_IN_FLIGHT,
        );
      } catch (err) {
        const partial = err instanceof PartialPublishError ? err.counts : counts;
        this.count(labels, partial);
        this.logger.error({
          msg: 'publish failed',
          source,
          transport,
          ...partial,
          attempted: records.length,
          error: String((err as Error).cause ?? err),
        });
        throw new DlnError(
          ErrorCode.Unavailable,
          `the raw stream of "${source}" did not acknowledge every record (${partial.stored + partial.duplicates} of ${records.length} taken); resending with the same ids is safe`,
          { retryable: true, cause: err },
        );
      }
      this.count(labels, counts);
    }
    const result: IngestResult = {
      accepted: counts.stored + counts.duplicates,
      stored: counts.stored,
      duplicates: counts.duplicates,
      rejectedCount: refused.length,
      rejected: reportRejections(refused),
    };
    return { result, refused };
  }

  private count(
    labels: { source: string; transport: Transport },
    counts: { stored: number; duplicates: number },
  ): void {
    this.metrics.accepted.inc(labels, counts.stored + counts.duplicates);
    this.metrics.stored.inc(labels, counts.stored);
    this.metrics.duplicates.inc(labels, counts.duplicates);
  }
}
