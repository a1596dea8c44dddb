import {
  ControlPattern,
  ModelCatalogue,
  ModelVersion,
  RawRecord,
  RecordHeader,
  SourceDescription,
  Subjects,
} from '@dln/contracts';
import { encodeJson, JetStreamAcks, natsHeaders, type NatsConnection } from '@dln/messaging';
import { compileRecordValidator } from '@dln/records';
import { declaration } from '../predict/setup';

/** The flights in the stored raw record format (validated as ingest does; `_id` generated). */
export function storedFlights(records: Record<string, unknown>[]): RawRecord[] {
  const validate = compileRecordValidator(declaration, '_id');
  const out: RawRecord[] = [];
  for (const record of records) {
    const outcome = validate(record, false);
    if (outcome.record) out.push(outcome.record);
  }
  return out;
}

/** Stands in for the AM's catalogue (mutable: swaps change it) and ingest's source lookup. */
export function answerControl(
  nc: NatsConnection,
  subjects: Subjects,
  versions: ModelVersion[],
): { unsubscribe(): void }[] {
  const description: SourceDescription = {
    declaration,
    idField: '_id',
    stream: subjects.rawStream('flights'),
    subjects: {
      ingest: subjects.ingest('flights'),
      raw: subjects.rawAll('flights'),
      deadLetter: subjects.deadLetter('flights'),
    },
    stored: { records: 0, bytes: 0 },
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  return [
    nc.subscribe(subjects.control(ControlPattern.modelCatalogue), {
      callback: (_e, msg) => {
        const catalogue: ModelCatalogue = { versions };
        msg.respond(encodeJson(catalogue));
      },
    }),
    nc.subscribe(subjects.control(ControlPattern.sourceDescribe), {
      callback: (_e, msg) => void msg.respond(encodeJson(description)),
    }),
  ];
}

/**
 * Stores records into the raw stream at a fixed offered rate (open loop: sends are due by the
 * clock, whatever the acks do), in the stored format, with many acks in flight. `sentAt` gets the
 * send time of each record id (performance clock). Bounded by the record count and `maxSeconds`.
 */
export async function feedAtRate(
  nc: NatsConnection,
  subjects: Subjects,
  records: readonly { id: string; record: RawRecord }[],
  perSecond: number,
  sentAt: Map<string, number>,
  maxSeconds: number,
): Promise<{ sent: number; seconds: number }> {
  // Acks on one inbox (as the scorer publishes): js.publish's request per message cost the
  // load generator CPU that the 2 cores share with the service it measures.
  const js = new JetStreamAcks(nc);
  const subject = subjects.raw('flights', 0);
  const started = performance.now();
  const pending = new Set<Promise<unknown>>();
  let next = 0;
  let failure: unknown;
  while (next < records.length && performance.now() - started < maxSeconds * 1000) {
    const due = Math.min(
      records.length,
      Math.floor(((performance.now() - started) * perSecond) / 1000) + 1,
    );
    for (; next < due; next += 1) {
      const { id, record } = records[next]!;
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, id);
      sentAt.set(id, performance.now());
      const p = js
        .publish(subject, encodeJson(record), { msgID: `flights:${id}`, headers })
        .catch((error: unknown) => (failure ??= error));
      const tracked: Promise<unknown> = p.finally(() => pending.delete(tracked));
      pending.add(tracked);
    }
    if (failure !== undefined) throw failure;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(pending);
  js.close();
  if (failure !== undefined) throw failure;
  return { sent: next, seconds: (performance.now() - started) / 1000 };
}
