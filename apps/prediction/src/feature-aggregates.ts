import {
  ControlPattern,
  DlnError,
  ErrorCode,
  StreamAggregatesBatchReply,
  streamAggregatesBatchReplySchema,
  StreamAggregatesBatchRequest,
  Subjects,
  UnavailableError,
} from '@dln/contracts';
import { NatsConnection, requestJson } from '@dln/messaging';
import { AggregateLookup, AggregateReader, StreamPipelineServing } from '@dln/serving';

/**
 * Reads stream models' per-key aggregates from the feature service
 * (`ControlPattern.streamAggregatesBatch`, one request per batch of records). When it does not
 * answer in time, or cannot read the pipeline's state, the read fails with a retryable
 * UNAVAILABLE (503): a row is never scored with made-up zeros.
 */
export class FeatureAggregates implements AggregateReader {
  constructor(
    private readonly nats: NatsConnection,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
  ) {}

  async read(pipeline: string, lookups: readonly AggregateLookup[]): Promise<number[][]> {
    const reply = await this.ask({
      pipeline,
      items: lookups.map((lookup) => ({ at: lookup.at, record: lookup.keys })),
    });
    if (reply.items.length !== lookups.length)
      throw new UnavailableError(
        `per-key aggregates of stream pipeline "${pipeline}": asked for ${lookups.length} records, the feature service answered ${reply.items.length}`,
      );
    return reply.items.map((item) => item.values);
  }

  /** The pipeline's event-time field and aggregate names (an empty batch: nothing is read). */
  async describe(pipeline: string): Promise<StreamPipelineServing> {
    const reply = await this.ask({ pipeline, items: [] });
    return { eventTime: reply.eventTime, aggregates: reply.aggregates };
  }

  private async ask(request: StreamAggregatesBatchRequest): Promise<StreamAggregatesBatchReply> {
    const what = `per-key aggregates of stream pipeline "${request.pipeline}" (${request.items.length} records)`;
    try {
      return await requestJson(
        this.nats,
        this.subjects.control(ControlPattern.streamAggregatesBatch),
        request,
        { reply: streamAggregatesBatchReplySchema, what, timeoutMs: this.timeoutMs },
      );
    } catch (error) {
      if (error instanceof DlnError && error.code === ErrorCode.InvalidRequest) throw error;
      const reason =
        error instanceof DlnError &&
        (error.code === ErrorCode.Timeout || error.code === ErrorCode.Unavailable)
          ? `the feature service did not answer within ${this.timeoutMs} ms`
          : `the feature service could not read them: ${error instanceof Error ? error.message : String(error)}`;
      throw new UnavailableError(`${what}: ${reason}`, error);
    }
  }
}
