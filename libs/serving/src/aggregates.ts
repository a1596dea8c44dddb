import { AggregateFeatureSpec, STREAM_AGGREGATES_BATCH_MAX, StreamSnapshot } from '@dln/contracts';
import {
  aggregateSlotValue,
  InputRecord,
  MISSING,
  readCategory,
  readTimestamp,
  RecordEncodeError,
} from '@dln/features';

/**
 * A stream model with per-key windowed aggregates: its pinned stream snapshot, and the field
 * holding a record's event time (the pipeline's `eventTime`), at which its aggregates are read.
 */
export interface StreamServing {
  snapshot: StreamSnapshot;
  eventTime: string;
}

/** One row's aggregate read: the record's event time and the key text of each key field. */
export interface AggregateLookup {
  at: number;
  keys: Record<string, string>;
}

/**
 * Reads the aggregates of many records of a stream pipeline (the feature service's per-key
 * state): per lookup, one value per aggregate feature in snapshot order, before its transform.
 * Rejects with a retryable UNAVAILABLE DlnError when the state cannot be read in time.
 */
export interface AggregateReader {
  read(pipeline: string, lookups: readonly AggregateLookup[]): Promise<number[][]>;
}

/**
 * What an aggregate read needs from a record: its event time and the text of every key field,
 * read as the feature pipeline reads them (`readTimestamp`, `readCategory`). Throws a
 * RecordEncodeError naming the field when one is missing or of the wrong type.
 */
export function aggregateLookupOf(record: InputRecord, serving: StreamServing): AggregateLookup {
  const at = readTimestamp(record, serving.eventTime, 'event time');
  if (at === MISSING) {
    throw new RecordEncodeError(
      'event time',
      serving.eventTime,
      "missing: the model's per-key aggregates are read at the record's event time",
    );
  }
  const keys: Record<string, string> = {};
  for (const aggregate of serving.snapshot.aggregates) {
    if (aggregate.key in keys) continue;
    const key = readCategory(record, aggregate.key, aggregate.name);
    if (key === MISSING)
      throw new RecordEncodeError(aggregate.name, aggregate.key, 'missing: the aggregate key');
    keys[aggregate.key] = key;
  }
  return { at, keys };
}

/**
 * Writes each row's aggregate values into the last `specs.length` dense slots of its row, as
 * StreamEncoder.encode does at training (same slot order, same transform).
 */
export function writeAggregateSlots(
  dense: Float32Array,
  denseWidth: number,
  specs: readonly AggregateFeatureSpec[],
  values: readonly (readonly number[])[],
): void {
  const first = denseWidth - specs.length;
  values.forEach((row, r) => {
    if (row.length !== specs.length)
      throw new Error(`expected ${specs.length} aggregate values for row ${r}, got ${row.length}`);
    specs.forEach((spec, i) => {
      dense[r * denseWidth + first + i] = aggregateSlotValue(spec, row[i] as number);
    });
  });
}

/** Reads every lookup through `reader`, at most STREAM_AGGREGATES_BATCH_MAX per request, in parallel. */
export async function readAggregates(
  reader: AggregateReader,
  pipeline: string,
  lookups: readonly AggregateLookup[],
): Promise<number[][]> {
  const chunks: (readonly AggregateLookup[])[] = [];
  for (let i = 0; i < lookups.length; i += STREAM_AGGREGATES_BATCH_MAX)
    chunks.push(lookups.slice(i, i + STREAM_AGGREGATES_BATCH_MAX));
  const answers = await Promise.all(chunks.map((chunk) => reader.read(pipeline, chunk)));
  const values = answers.flat();
  if (values.length !== lookups.length)
    throw new Error(`asked the aggregates of ${lookups.length} records, got ${values.length}`);
  return values;
}
