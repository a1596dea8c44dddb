import { RecordHeader, Subjects } from '@dln/contracts';
import { natsHeaders, type PublishOutcome, type PublishWindow } from '@dln/messaging';
import type { PreparedRecord } from '@dln/records';

export type PublishCounts = PublishOutcome;

/** Some records of a request reached the stream before publishing failed; a retry with the same ids is safe. */
export class PartialPublishError extends Error {
  constructor(
    readonly counts: PublishCounts,
    readonly attempted: number,
    cause: unknown,
  ) {
    super(`publishing failed after ${counts.stored + counts.duplicates} of ${attempted} records`, {
      cause,
    });
    this.name = 'PartialPublishError';
  }
}

/**
 * Publishes records, one JetStream message each, through the service-wide `window`, pulling each
 * record from `nextRecord` only as it is sent (so preparing overlaps publishing). Resolves with
 * this request's counts; a failure, of a publish or of `nextRecord`, rejects with a
 * PartialPublishError once the records already sent are settled.
 */
export async function publishRecords(
  window: PublishWindow,
  subjects: Subjects,
  source: string,
  partitions: number,
  nextRecord: () => PreparedRecord | undefined,
): Promise<PublishCounts> {
  const partitionSubjects = Array.from({ length: partitions }, (_, p) => subjects.raw(source, p));
  const msgIdPrefix = `${source}:`;
  const batch = window.batch();
  try {
    await batch.publishFrom(() => {
      const record = nextRecord();
      if (record === undefined) return undefined;
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, record.id);
      return {
        subject: partitionSubjects[record.partition] as string,
        data: record.payload,
        msgID: msgIdPrefix + record.id,
        headers,
      };
    });
    return await batch.flush();
  } catch (err) {
    await batch.flush().catch(() => undefined);
    throw new PartialPublishError(batch.outcome, batch.attempted, err);
  }
}
