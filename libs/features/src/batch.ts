import { encodeExample, PipelineSnapshot, PipelineSpec } from '@dln/contracts';
import { PipelineAnalyzer } from './analyzer';
import { PipelineEncoder } from './encoder';
import { splitOf } from './hash';
import { InputRecord } from './values';

/** One stored raw record as a batch job reads it: its id, its body, its stream sequence. */
export interface StoredRecord {
  id: string;
  record: InputRecord;
  sequence: number;
}

/** Called every `every` records, and once at the end, with the number read so far. */
export interface ProgressOptions {
  every?: number;
  onProgress?: (processed: number) => void;
}

/**
 * The analyze phase over a whole source: every record once, in order. A record that cannot be
 * used stops the fit with a RecordEncodeError naming the record and the field.
 */
export async function analyzeAll(
  spec: PipelineSpec,
  records: AsyncIterable<StoredRecord>,
  progress: ProgressOptions = {},
): Promise<{ snapshot: PipelineSnapshot; recordCount: number; lastSequence: number }> {
  const analyzer = new PipelineAnalyzer(spec);
  const every = progress.every ?? 10_000;
  let lastSequence = 0;
  for await (const item of records) {
    analyzer.add(item.record, item.id);
    lastSequence = item.sequence;
    if (analyzer.recordCount % every === 0) progress.onProgress?.(analyzer.recordCount);
  }
  if (analyzer.recordCount % every !== 0 || analyzer.recordCount === 0)
    progress.onProgress?.(analyzer.recordCount);
  return { snapshot: analyzer.finish(), recordCount: analyzer.recordCount, lastSequence };
}

/** One materialized example: which split it belongs to, its de-duplication id, its bytes. */
export interface MaterializedExample {
  recordId: string;
  split: 'train' | 'validation';
  /**
   * `<version>.<run>:<record id>`: JetStream keeps one example per record within a
   * materialization run; the run number is bumped on each re-materialization because a purge
   * does not reset the stream's de-duplication window.
   */
  msgId: string;
  bytes: Uint8Array;
}

/** Encodes one stored record for training (label required); throws a RecordEncodeError. */
export function materializeRecord(
  encoder: PipelineEncoder,
  version: number,
  item: StoredRecord,
  run = 1,
): MaterializedExample {
  const { validationFraction, seed } = encoder.snapshot.spec.split;
  const example = encoder.encode(item.record, 'required', item.id);
  return {
    recordId: item.id,
    split: splitOf(item.id, validationFraction, seed),
    msgId: `${version}.${run}:${item.id}`,
    bytes: encodeExample(example),
  };
}
