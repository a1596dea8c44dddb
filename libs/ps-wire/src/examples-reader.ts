import { decodeExample, Example, RecordHeader, Subjects } from '@dln/contracts';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ReadExamplesOptions {
  pipeline: string;
  version: number;
  split: 'train' | 'validation';
  /** Examples the AM says the split holds: reading stops there. */
  expected: number;
  /** Keep only records this predicate accepts (a worker's split); it sees every id in stream order. */
  keep?: (recordId: string) => boolean;
  /** Give up when no message arrives for this long. */
  idleTimeoutMs?: number;
}

/** Examples of one split with their record ids, in stream order. */
export interface ReadExamples {
  recordIds: string[];
  examples: Example[];
}

/**
 * Reads a materialized split of a pipeline version from its examples stream (one message per
 * record, header Dln-Record-Id) with an ordered consumer, decoding only the kept records.
 */
export async function readExamples(
  nc: NatsConnection,
  subjects: Subjects,
  options: ReadExamplesOptions,
): Promise<ReadExamples> {
  const out: ReadExamples = { recordIds: [], examples: [] };
  if (options.expected === 0) return out;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(subjects.examplesStream(options.pipeline), {
    // A single subject (filter_subject): nats-server 2.9 has no filter_subjects.
    filter_subjects: subjects.examples(options.pipeline, options.version, options.split),
  });
  const messages = await consumer.consume({ max_messages: 1024, idle_heartbeat: 1000 });
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  const idle = options.idleTimeoutMs ?? 30_000;
  let timedOut = false;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      void messages.close();
    }, idle);
  };
  arm();
  try {
    for await (const message of messages) {
      arm();
      read += 1;
      const recordId = message.headers?.get(RecordHeader.recordId) ?? '';
      if (recordId === '')
        throw new Error(`example ${message.seq} has no ${RecordHeader.recordId} header`);
      if (!options.keep || options.keep(recordId)) {
        out.recordIds.push(recordId);
        out.examples.push(decodeExample(message.data));
      }
      if (read >= options.expected || message.info.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  if (timedOut || read < options.expected) {
    throw new Error(
      `read ${read} of ${options.expected} ${options.split} examples of ${options.pipeline} v${options.version}${timedOut ? ` (nothing for ${idle} ms)` : ''}`,
    );
  }
  return out;
}
