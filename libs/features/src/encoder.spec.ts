import { decodeExample, encodeExample, pipelineSnapshotSchema } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { fitPipeline } from './analyzer';
import { PipelineEncoder } from './encoder';
import { records, spec, T } from './fixtures/pipeline';
import { murmur3 } from './hash';
import { RecordEncodeError } from './values';

const f = Math.fround;
const encoder = new PipelineEncoder(fitPipeline(spec(), records));
const record = { id: 'z', x: 4, c: 'green', t: T, y: 16 };

describe('PipelineEncoder', () => {
  it('encodes a record to hand-computed values', () => {
    const example = encoder.encode(record);
    expect(Array.from(example.dense)).toEqual([
      f(1 / Math.sqrt(3.5)), // standardize: (4 - 3) / sqrt(3.5)
      f(0.6), // minmax: (4 - 1) / (6 - 1)
      f(Math.log(5)), // log1p(4)
      0,
      1,
      0, // bucketize [2, 5]: 2 <= 4 < 5 is bucket 1
      0,
      0,
      0,
      1, // one-hot [oov, red, blue, green]
      0,
      0,
      0,
      0,
      0,
      1,
      0, // Saturday (09:56 in New York), Monday = 0
    ]);
    expect(Array.from(example.ids)).toEqual([
      0, // "green" fell outside the capped vocabulary [red, blue]: out-of-vocabulary
      murmur3('green') % 8,
      murmur3('["green","4"]') % 16,
      14, // hour in UTC
    ]);
    expect(example.label).toBe(1);
    expect(example.dense.length).toBe(encoder.outputSchema.denseWidth);
    expect(example.ids.length).toBe(encoder.outputSchema.ids.length);
  });

  it('maps unseen categories to the out-of-vocabulary id and values outside the bounds to the end buckets', () => {
    const low = encoder.encode({ ...record, x: -3, c: 'purple' });
    expect(low.ids[0]).toBe(0);
    expect(Array.from(low.dense.subarray(6, 10))).toEqual([1, 0, 0, 0]);
    expect(Array.from(low.dense.subarray(3, 6))).toEqual([1, 0, 0]);
    expect(low.dense[0]).toBe(f(-6 / Math.sqrt(3.5)));
    expect(low.dense[1]).toBe(f(-0.8)); // minmax is not clipped
    expect(low.dense[2]).toBe(f(-Math.log(4))); // log1p mirrored for negatives
    const high = encoder.encode({ ...record, x: 100, c: 'red' });
    expect(Array.from(high.dense.subarray(3, 6))).toEqual([0, 0, 1]);
    expect(high.dense[1]).toBe(f(19.8));
    expect(high.ids[0]).toBe(1);
  });

  it('does not divide by a zero std', () => {
    const constant = new PipelineEncoder(
      fitPipeline(
        spec(),
        records.map((r) => ({ ...r, x: 7 })),
      ),
    );
    const example = constant.encode({ ...record, x: 9 });
    expect(example.dense[0]).toBe(2); // x - mean
    expect(example.dense[1]).toBe(0); // zero range
    expect(constant.encode({ ...record, x: 7 }).dense[0]).toBe(0);
  });

  it('fills missing inputs (null, NaN, Infinity, "") with the fitted value', () => {
    const s = spec({
      features: [
        {
          kind: 'numeric',
          name: 'm',
          field: 'x',
          transform: 'standardize',
          missing: { strategy: 'mean' },
        },
        {
          kind: 'numeric',
          name: 'd',
          field: 'x',
          transform: 'none',
          missing: { strategy: 'default', value: -1 },
        },
        {
          kind: 'categorical',
          name: 'c',
          field: 'c',
          vocabulary: { kind: 'learned', maxSize: 9 },
          missing: { strategy: 'mode' },
        },
        {
          kind: 'cross',
          name: 'k',
          fields: ['c', 'x'],
          buckets: 64,
          missing: { strategy: 'default', value: '?' },
        },
        {
          kind: 'datetime',
          name: 'h',
          field: 't',
          part: 'hour',
          encoding: 'id',
          missing: { strategy: 'default', value: 12 },
        },
      ],
    });
    const enc = new PipelineEncoder(fitPipeline(s, records));
    for (const x of [null, NaN, Infinity, -Infinity, '', undefined]) {
      const e = enc.encode({ x, c: '', t: null, y: 0 });
      expect(Array.from(e.dense)).toEqual([0, -1]); // the mean standardizes to 0
      expect(Array.from(e.ids)).toEqual([1, murmur3('["?","?"]') % 64, 12]); // mode "red" is id 1
    }
  });

  it('names the field when a record cannot be encoded', () => {
    expect(() => encoder.encode({ ...record, x: null }, 'required', 'r9')).toThrow(
      'record "r9": field "x" (x_std): value is missing and the feature has no "missing" strategy',
    );
    expect(() => encoder.encode({ ...record, t: 'noon' })).toThrow(
      'field "t" (hour): expected a timestamp in epoch milliseconds, got string',
    );
    try {
      encoder.encode({ ...record, c: null });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RecordEncodeError);
      expect((error as RecordEncodeError).toBody().error.issues).toEqual([
        { path: 'c', message: 'value is missing and the feature has no "missing" strategy' },
      ]);
    }
  });

  it('requires the label for training and leaves it NaN for serving', () => {
    const { y: _y, ...unlabelled } = record;
    expect(() => encoder.encode(unlabelled)).toThrow('field "y" (label): the label is missing');
    expect(encoder.encode(unlabelled, 'optional').label).toBeNaN();
    expect(encoder.encode({ ...record, y: 15 }).label).toBe(0);
    const inclusive = new PipelineEncoder(
      fitPipeline(
        spec({ label: { kind: 'binary', field: 'y', threshold: 15, inclusive: true } }),
        records,
      ),
    );
    expect(inclusive.encode({ ...record, y: 15 }).label).toBe(1);
  });

  it('gives the same bytes from a snapshot that went through JSON (what serving loads)', () => {
    const snapshot = fitPipeline(spec(), records);
    const reloaded = pipelineSnapshotSchema.parse(JSON.parse(JSON.stringify(snapshot)));
    const again = new PipelineEncoder(reloaded);
    for (const r of [...records, record]) {
      const bytes = encodeExample(again.encode(r));
      expect(bytes).toEqual(encodeExample(encoder.encode(r)));
      expect(decodeExample(bytes).dense.length).toBe(17);
    }
  });
});
