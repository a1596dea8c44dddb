import { PredictionMessage, predictionMessageSchema, RecordHeader, Subjects } from '@dln/contracts';
import {
  decodeJson,
  encodeJson,
  ensureStream,
  jetStreamManagerOf,
  jetStreamOf,
  natsHeaders,
  NatsConnection,
  publishAll,
} from '@dln/messaging';
import { nanos } from '@nats-io/transport-node';

/** Creates a source's raw stream as ingest does (all partitions, de-duplicated by msg id). */
export async function ensureRawStream(
  nc: NatsConnection,
  subjects: Subjects,
  source: string,
): Promise<string> {
  const name = subjects.rawStream(source);
  await ensureStream(await jetStreamManagerOf(nc), {
    name,
    subjects: [subjects.rawAll(source)],
    duplicate_window: nanos(120_000),
  });
  return name;
}

/**
 * Stores records in the stored raw record format (sources.ts): JSON body, `Nats-Msg-Id:
 * <source>:<id>` and `Dln-Record-Id: <id>`, on partition `partitionOf(record)` (default 0).
 */
export async function publishRawRecords(
  nc: NatsConnection,
  subjects: Subjects,
  source: string,
  records: readonly Record<string, unknown>[],
  idField: string,
  partitionOf: (record: Record<string, unknown>, index: number) => number = () => 0,
): Promise<void> {
  await publishAll(
    jetStreamOf(nc),
    records.map((record, i) => {
      const id = String(record[idField]);
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, id);
      return {
        subject: subjects.raw(source, partitionOf(record, i)),
        data: encodeJson(record),
        msgID: `${source}:${id}`,
        headers,
      };
    }),
  );
}

/** Messages stored in a model's predictions stream now (0 when it does not exist yet). */
export async function predictionsStored(
  nc: NatsConnection,
  subjects: Subjects,
  model: string,
): Promise<number> {
  const jsm = await jetStreamManagerOf(nc);
  try {
    return (await jsm.streams.info(subjects.predictionsStream(model))).state.messages;
  } catch {
    return 0;
  }
}

/** Every message of a model's predictions stream, in stream order, validated. */
export async function readPredictions(
  nc: NatsConnection,
  subjects: Subjects,
  model: string,
): Promise<PredictionMessage[]> {
  const total = await predictionsStored(nc, subjects, model);
  const out: PredictionMessage[] = [];
  if (total === 0) return out;
  const consumer = await jetStreamOf(nc).consumers.get(subjects.predictionsStream(model));
  while (out.length < total) {
    const batch = await consumer.fetch({
      max_messages: Math.min(1000, total - out.length),
      expires: 2000,
    });
    let got = 0;
    for await (const msg of batch) {
      out.push(predictionMessageSchema.parse(decodeJson(msg.data)));
      got += 1;
    }
    if (got === 0) throw new Error(`read ${out.length} of ${total} predictions, then nothing`);
  }
  return out;
}
