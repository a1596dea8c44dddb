import {
  ControlPattern,
  DeadLetter,
  IngestAck,
  ingestOptionsSchema,
  parseInput,
  RecordHeader,
  SourceDescription,
  sourceLookupSchema,
  Subjects,
} from '@dln/contracts';
import { encodeJson, type MsgHdrs, type NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { itemsFromJsonValue, RefusedRecord } from '@dln/records';
import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { SourcesService } from '../sources/sources.service';
import { IngestMetrics } from './ingest-metrics';
import { IngestService } from './ingest.service';

function optionsFromHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const options: Record<string, string> = {};
  if (!headers) return options;
  const pairs = [
    ['idFrom', RecordHeader.idFrom],
    ['idOffset', RecordHeader.idOffset],
    ['atomic', RecordHeader.atomic],
  ] as const;
  for (const [option, header] of pairs)
    if (headers.has(header)) options[option] = headers.get(header);
  return options;
}

/**
 * NATS side of ingest. Records: a request on `Subjects.ingest(source)` with a JSON array (or one
 * record) and optional `Dln-Id-From` / `Dln-Id-Offset` / `Dln-Atomic` headers, answered with an
 * IngestAck; each refused record also goes to `Subjects.deadLetter(source)` with its reason.
 */
@Controller()
export class IngestHandlers {
  constructor(
    private readonly ingest: IngestService,
    private readonly sources: SourcesService,
    private readonly metrics: IngestMetrics,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
  ) {}

  @MessagePattern(ControlPattern.ingestRecords)
  async ingestRecords(
    @Payload() payload: unknown,
    @Ctx() context: NatsContext,
  ): Promise<IngestAck> {
    const subject = context.getSubject();
    const source = subject.slice(subject.lastIndexOf('.') + 1);
    const options = parseInput(
      ingestOptionsSchema,
      optionsFromHeaders(context.getHeaders() as MsgHdrs | undefined),
      'ingest headers',
    );
    const items = itemsFromJsonValue(payload);
    const { result, refused } = await this.ingest.ingest(source, items, options, 'nats');
    const deadLettered = this.deadLetter(source, refused);
    return { ...result, deadLettered };
  }

  @MessagePattern(ControlPattern.sourceDescribe)
  async describe(@Payload() payload: unknown): Promise<SourceDescription> {
    const { name } = parseInput(sourceLookupSchema, payload, 'source lookup');
    return this.sources.describe(name);
  }

  private deadLetter(source: string, refused: readonly RefusedRecord[]): number {
    if (refused.length === 0) return 0;
    const subject = this.subjects.deadLetter(source);
    const receivedAt = new Date().toISOString();
    for (const { value, ...rejection } of refused) {
      const letter: DeadLetter = { ...rejection, source, record: value ?? null, receivedAt };
      this.nats.publish(subject, encodeJson(letter));
    }
    this.metrics.deadLettered.inc({ source }, refused.length);
    return refused.length;
  }
}
