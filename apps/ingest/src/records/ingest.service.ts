import { DlnError, ErrorCode, IngestOptions, IngestResult, Subjects } from '@dln/contracts';
import { jetStreamOf, PublishWindow, type NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import {
  BodyItem,
  PreparedRecord,
  prepareRecords,
  RecordPreparer,
  RefusedRecord,
  reportRejections,
} from '@dln/records';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IngestConfig } from '../ingest.config';
import { INGEST_CONFIG } from '../ingest.tokens';
import { SourcesService } from '../sources/sources.service';
import { IngestMetrics } from './ingest-metrics';
import { PartialPublishError, PublishCounts, publishRecords } from './record-publisher';

export type Transport = 'rest' | 'nats';

export interface IngestOutcome {
  result: IngestResult;
  /** Every refused record with its value (the result lists at most maxReportedRejections). */
  refused: RefusedRecord[];
}

function arrayCursor<T>(items: readonly T[]): () => T | undefined {
  let position = 0;
  return () => items[position++];
}

/** Validates a request's records against the source and stores the valid ones in its raw stream. */
@Injectable()
export class IngestService {
  private readonly logger = new Logger(IngestService.name);
  /**
   * The service-wide bound on publishes awaiting their ack (INGEST_PUBLISH_IN_FLIGHT), shared by
   * every request: concurrent requests keep the stream busy without ever exceeding it.
   */
  private readonly window: PublishWindow;

  constructor(
    private readonly sources: SourcesService,
    private readonly metrics: IngestMetrics,
    @Inject(NATS_CONNECTION) nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(INGEST_CONFIG) config: IngestConfig,
  ) {
    this.window = new PublishWindow(jetStreamOf(nats), config.INGEST_PUBLISH_IN_FLIGHT);
  }

  async ingest(
    source: string,
    items: readonly BodyItem[],
    options: IngestOptions,
    transport: Transport,
  ): Promise<IngestOutcome> {
    const declaration = await this.sources.declaration(source);
    const labels = { source, transport };
    let counts = { stored: 0, duplicates: 0 };
    let refused: RefusedRecord[];
    if (options.atomic) {
      // All or nothing: every record is checked before the first is sent.
      const batch = prepareRecords(declaration, items, options);
      refused = batch.refused;
      if (refused.length === 0) {
        counts = await this.publish(
          source,
          declaration.partitions,
          labels,
          arrayCursor(batch.records),
        );
      }
    } else {
      const preparer = new RecordPreparer(declaration, items, options);
      refused = preparer.refused;
      counts = await this.publish(source, declaration.partitions, labels, () => preparer.next());
    }
    if (refused.length > 0) this.metrics.rejected.inc(labels, refused.length);
    const result: IngestResult = {
      accepted: counts.stored + counts.duplicates,
      stored: counts.stored,
      duplicates: counts.duplicates,
      rejectedCount: refused.length,
      rejected: reportRejections(refused),
    };
    return { result, refused };
  }

  private async publish(
    source: string,
    partitions: number,
    labels: { source: string; transport: Transport },
    next: () => PreparedRecord | undefined,
  ): Promise<PublishCounts> {
    try {
      const counts = await publishRecords(this.window, this.subjects, source, partitions, next);
      this.count(labels, counts);
      return counts;
    } catch (err) {
      const partial =
        err instanceof PartialPublishError ? err.counts : { stored: 0, duplicates: 0 };
      const attempted = err instanceof PartialPublishError ? err.attempted : 0;
      this.count(labels, partial);
      this.logger.error({
        msg: 'publish failed',
        ...labels,
        ...partial,
        attempted,
        error: String((err as Error).cause ?? err),
      });
      throw new DlnError(
        ErrorCode.Unavailable,
        `the raw stream of "${source}" did not acknowledge every record (${partial.stored + partial.duplicates} taken); resending with the same ids is safe`,
        { retryable: true, cause: err },
      );
    }
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
