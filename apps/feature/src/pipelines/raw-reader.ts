import { RecordHeader } from '@dln/contracts';
import type { StoredRecord } from '@dln/features';
import { recordIdOf } from '@dln/features';
import { decodeJson, jetStreamManagerOf, jetStreamOf, NatsConnection } from '@dln/messaging';

/** Where a batch read of a raw stream stops: the last sequence and how many records are stored. */
export interface RawStreamExtent {
  lastSequence: number;
  messages: number;
}

export async function rawStreamExtent(
  nc: NatsConnection,
  stream: string,
): Promise<RawStreamExtent> {
  const info = await (await jetStreamManagerOf(nc)).streams.info(stream);
  return { lastSequence: info.state.last_seq, messages: info.state.messages };
}

export class RawRecordError extends Error {
  constructor(sequence: number, reason: string) {
    super(`raw record at stream sequence ${sequence}: ${reason}`);
    this.name = 'RawRecordError';
  }
}

/**
 * Every stored record of a raw stream up to `upTo` (inclusive), in stream order, through an
 * ordered consumer (no server-side state left behind). Records appended after `upTo` are not
 * read, so a fit and the materialization of its version see the same records.
 */
export async function* readRawRecords(
  nc: NatsConnection,
  stream: string,
  idField: string,
  upTo: number,
): AsyncGenerator<StoredRecord> {
  if (upTo <= 0) return;
  const { messages: stored } = await rawStreamExtent(nc, stream);
  if (stored === 0) return;
  const consumer = await jetStreamOf(nc).consumers.get(stream, {});
  const messages = await consumer.consume({ max_messages: 1_000 });
  try {
    for await (const msg of messages) {
      if (msg.seq > upTo) return;
      let body: unknown;
      try {
        body = decodeJson(msg.data);
      } catch (err) {
        throw new RawRecordError(msg.seq, `not JSON (${String(err)})`);
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new RawRecordError(msg.seq, 'not a JSON object');
      }
      const record = body as Record<string, unknown>;
      const id = msg.headers?.get(RecordHeader.recordId) || recordIdOf(record, idField);
      yield { id, record, sequence: msg.seq };
      // The last stored message may have been deleted: nothing pending means nothing more to read.
      if (msg.seq >= upTo || msg.info.pending === 0) return;
    }
  } finally {
    await messages.close();
  }
}
