import { RecordHeader } from '@dln/contracts';
import { jetStreamManagerOf, jetStreamOf, NatsConnection } from '@dln/messaging';

/** Messages a JetStream stream holds now (0 when it does not exist yet). */
export async function storedMessages(nc: NatsConnection, stream: string): Promise<number> {
  try {
    return (await (await jetStreamManagerOf(nc)).streams.info(stream)).state.messages;
  } catch {
    return 0;
  }
}

/** The `Dln-Record-Id` header of every message of a JetStream stream now, in stream order. */
export async function readRecordIds(nc: NatsConnection, stream: string): Promise<string[]> {
  const total = await storedMessages(nc, stream);
  const out: string[] = [];
  if (total === 0) return out;
  const consumer = await jetStreamOf(nc).consumers.get(stream);
  while (out.length < total) {
    const batch = await consumer.fetch({
      max_messages: Math.min(1000, total - out.length),
      expires: 2000,
    });
    let got = 0;
    for await (const msg of batch) {
      out.push(msg.headers?.get(RecordHeader.recordId) ?? '');
      got += 1;
    }
    if (got === 0) throw new Error(`read ${out.length} of ${total} messages of ${stream}`);
  }
  return out;
}
