import { decodeExample } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { analyzeAll, materializeRecord, StoredRecord } from './batch';
import { PipelineEncoder } from './encoder';
import { records, spec } from './fixtures/pipeline';
import { splitOf } from './hash';
import { RecordEncodeError } from './values';

async function* stored(items: Record<string, unknown>[]): AsyncGenerator<StoredRecord> {
  let sequence = 10;
  for (const record of items) yield { id: String(record['id']), record, sequence: (sequence += 1) };
}

describe('batch helpers', () => {
  it('analyzes a stream of stored records with progress and the last sequence', async () => {
    const seen: number[] = [];
    const result = await analyzeAll(spec(), stored(records), {
      every: 3,
      onProgress: (n) => seen.push(n),
    });
    expect(result.recordCount).toBe(4);
    expect(result.lastSequence).toBe(14);
    expect(seen).toEqual([3, 4]);
    expect(result.snapshot.features[0]?.mean).toBe(3);
  });

  it('stops at the first record it cannot use, naming it', async () => {
    const bad = [...records.slice(0, 2), { ...records[2]!, x: 'three' }];
    await expect(analyzeAll(spec(), stored(bad))).rejects.toThrow(
      'record "c": field "x" (x_std): expected a number, got string',
    );
  });

  it('materializes one example per record with its split and version-scoped id', async () => {
    const { snapshot } = await analyzeAll(spec(), stored(records));
    const encoder = new PipelineEncoder(snapshot);
    const out = materializeRecord(encoder, 3, { id: 'c', record: records[2]!, sequence: 1 }, 2);
    expect(out.msgId).toBe('3.2:c');
    expect(out.split).toBe(splitOf('c', 0.2));
    expect(decodeExample(out.bytes).dense.length).toBe(encoder.outputSchema.denseWidth);
    expect(() =>
      materializeRecord(encoder, 3, { id: 'q', record: { ...records[0], y: null }, sequence: 2 }),
    ).toThrow(RecordEncodeError);
  });
});
