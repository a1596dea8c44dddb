import { ValidationError } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { fitPipeline, PipelineAnalyzer } from './analyzer';
import { outputSchemaOf } from './layout';
import { records, spec, T } from './fixtures/pipeline';
import { RecordEncodeError } from './values';

describe('PipelineAnalyzer', () => {
  it('computes hand-checked statistics, vocabularies and label counts', () => {
    const snapshot = fitPipeline(spec(), records);
    const [std, , , bucket, vocab, hot] = snapshot.features;
    // x = 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, population variance 3.5
    expect(std).toMatchObject({ name: 'x_std', count: 4, missing: 0, mean: 3, min: 1, max: 6 });
    expect(std?.std).toBeCloseTo(Math.sqrt(3.5), 14);
    expect(bucket).toMatchObject({ count: 4, missing: 0 });
    // red x2, then blue and green once each: the tie goes to the smaller text; the cap keeps 2
    expect(vocab?.vocabulary).toEqual(['red', 'blue']);
    expect(hot?.vocabulary).toEqual(['red', 'blue', 'green']);
    // y > 15: 20 and 16 (15 itself is not above)
    expect(snapshot.label).toEqual({ count: 4, positives: 2 });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it('lays out the output: dense in spec order with offsets, then ids with cardinalities', () => {
    const schema = outputSchemaOf(fitPipeline(spec(), records));
    expect(schema.dense).toEqual([
      { name: 'x_std', offset: 0, width: 1 },
      { name: 'x_mm', offset: 1, width: 1 },
      { name: 'x_log', offset: 2, width: 1 },
      { name: 'x_b', offset: 3, width: 3 },
      { name: 'c_hot', offset: 6, width: 4 },
      { name: 'dow', offset: 10, width: 7 },
    ]);
    expect(schema.denseWidth).toBe(17);
    expect(schema.ids).toEqual([
      { name: 'c', cardinality: 3 },
      { name: 'c_hash', cardinality: 8 },
      { name: 'c_x', cardinality: 16 },
      { name: 'hour', cardinality: 24 },
    ]);
    expect(schema.label).toEqual({ kind: 'binary' });
  });

  it('imputes: mean and mode over present values only; NaN, Infinity, null and "" are missing', () => {
    const s = spec({
      features: [
        {
          kind: 'numeric',
          name: 'm',
          field: 'x',
          transform: 'none',
          missing: { strategy: 'mean' },
        },
        {
          kind: 'numeric',
          name: 'o',
          field: 'x',
          transform: 'none',
          missing: { strategy: 'mode' },
        },
        {
          kind: 'categorical',
          name: 'c',
          field: 'c',
          vocabulary: { kind: 'hash', buckets: 4 },
          missing: { strategy: 'mode' },
        },
        {
          kind: 'categorical',
          name: 'd',
          field: 'c',
          vocabulary: { kind: 'hash', buckets: 4 },
          missing: { strategy: 'default', value: 'none' },
        },
        { kind: 'cross', name: 'k', fields: ['c', 'x'], buckets: 4, missing: { strategy: 'mode' } },
        { kind: 'datetime', name: 'h', field: 't', part: 'hour', missing: { strategy: 'mode' } },
      ],
    });
    const data = [
      { x: 5, c: 'b', t: T, y: 1 },
      { x: null, c: '', t: null, y: 1 },
      { x: 5, c: 'a', t: T, y: 1 },
      { x: NaN, c: null, t: NaN, y: 1 },
      { x: 2, c: 'a', t: T + 3_600_000, y: 1 },
      { x: Infinity, c: 'b', t: undefined, y: 1 },
      { x: '', y: 1 },
    ];
    const snap = fitPipeline(s, data);
    // present x: 5, 5, 2 -> mean 4, mode 5; c: b, a, a, b -> tie, "a" wins
    expect(snap.features[0]).toMatchObject({ count: 3, missing: 4, mean: 4, fill: 4 });
    expect(snap.features[1]).toMatchObject({ fill: 5 });
    expect(snap.features[2]).toMatchObject({ count: 4, missing: 3, fill: 'a' });
    expect(snap.features[3]).toMatchObject({ fill: 'none' });
    expect(snap.features[4]).toMatchObject({ count: 3, missing: 4, fill: ['a', '5'] });
    expect(snap.features[5]).toMatchObject({ count: 3, missing: 4, fill: 14 });
  });

  it('keeps std = 0 for a constant column', () => {
    const snap = fitPipeline(
      spec(),
      records.map((r) => ({ ...r, x: 7 })),
    );
    expect(snap.features[0]).toMatchObject({ mean: 7, std: 0, min: 7, max: 7 });
  });

  it('names the field and record of a value it cannot use', () => {
    const analyzer = new PipelineAnalyzer(spec());
    analyzer.add(records[0]!, 'a');
    expect(() => analyzer.add({ ...records[1], x: null }, 'b')).toThrow(
      'record "b": field "x" (x_std): value is missing and the feature has no "missing" strategy',
    );
    expect(() => new PipelineAnalyzer(spec()).add({ ...records[1], y: null }, 'b')).toThrow(
      'record "b": field "y" (label): the label is missing',
    );
    expect(() => fitPipeline(spec(), [{ ...records[0], c: { no: 1 } }])).toThrow(RecordEncodeError);
  });

  it('refuses what it cannot fit: no values to scale, bad missing strategies, too few classes', () => {
    expect(() => fitPipeline(spec(), [])).toThrow(
      /x_std.*no values at fit time to compute standardize/,
    );
    const meanOnCategory = spec({
      features: [
        {
          kind: 'categorical',
          name: 'c',
          field: 'c',
          vocabulary: { kind: 'hash', buckets: 2 },
          missing: { strategy: 'mean' },
        },
      ],
    });
    expect(() => new PipelineAnalyzer(meanOnCategory)).toThrow(ValidationError);
    const oneClass = spec({ label: { kind: 'class', field: 'y' } });
    expect(() => fitPipeline(oneClass, [records[0]!])).toThrow(/at least 2 classes/);
    const tooMany = spec({ label: { kind: 'class', field: 'y', maxClasses: 3 } });
    expect(() => fitPipeline(tooMany, records)).toThrow(/4 classes, more than maxClasses 3/);
  });

  it('learns classes by frequency and keeps given classes in their order', () => {
    const data = [...records, { ...records[0]!, y: 10 }, { ...records[0]!, y: 10 }];
    expect(fitPipeline(spec({ label: { kind: 'class', field: 'y' } }), data).label.classes).toEqual(
      ['10', '15', '16', '20'],
    );
    const given = spec({
      features: [{ kind: 'numeric', name: 'x', field: 'x', transform: 'none' }],
      label: { kind: 'class', field: 'c', classes: ['red', 'green', 'blue'] },
    });
    expect(fitPipeline(given, records).label.classes).toEqual(['red', 'green', 'blue']);
    expect(() => fitPipeline(given, [{ ...records[0]!, c: 'pink' }])).toThrow(
      /"pink" is not one of the 3 classes/,
    );
  });
});
