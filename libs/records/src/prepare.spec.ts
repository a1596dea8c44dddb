import { describe, expect, it } from 'vitest';
import { ingestOptionsSchema, sourceDeclarationSchema, ValidationError } from '@dln/contracts';
import { parseBody } from './body';
import { fnv1a32 } from './hash';
import { prepareRecords, RecordPreparer, reportRejections } from './prepare';

const flights = sourceDeclarationSchema.parse({
  name: 'flights',
  fields: [
    { name: 'date', type: 'timestamp' },
    { name: 'delay', type: 'integer' },
    { name: 'origin', type: 'string' },
  ],
  partitionKey: 'origin',
  partitions: 4,
});
const keyed = sourceDeclarationSchema.parse({
  name: 'keyed',
  fields: [
    { name: 'key', type: 'string' },
    { name: 'n', type: 'integer' },
  ],
  idField: 'key',
});
const options = (raw: Record<string, unknown>) => ingestOptionsSchema.parse(raw);

describe('prepareRecords', () => {
  it('numbers rows from idOffset, partitions by the key and serializes the stored form', () => {
    const items = parseBody(
      'date,delay,origin\n2001/01/01 00:47,66,DTW\nbad,1,X\n2001/01/01 01:10,-5,HNL\n',
      'csv',
    );
    const { records, refused } = prepareRecords(
      flights,
      items,
      options({ idFrom: 'row', idOffset: '100' }),
    );
    expect(records).toEqual([
      {
        index: 0,
        id: '100',
        partition: fnv1a32('DTW') % 4,
        payload: JSON.stringify({ date: 978_310_020_000, delay: 66, origin: 'DTW', _id: '100' }),
      },
      {
        index: 2,
        id: '102',
        partition: fnv1a32('HNL') % 4,
        payload: JSON.stringify({ date: 978_311_400_000, delay: -5, origin: 'HNL', _id: '102' }),
      },
    ]);
    expect(reportRejections(refused)).toEqual([
      { index: 1, line: 3, field: 'date', reason: 'must be ISO 8601 or "YYYY/MM/DD HH:MM[:SS]"' },
    ]);
    expect(refused[0]?.value).toEqual({ date: 'bad', delay: '1', origin: 'X' });
  });

  it('requires idFrom=row for a source without an id field', () => {
    expect(() => prepareRecords(flights, [], options({}))).toThrow(ValidationError);
    expect(() => prepareRecords(flights, [], options({ idFrom: 'field' }))).toThrow(
      /declares no idField/,
    );
  });

  it('takes ids from the id field and checks them', () => {
    const items = parseBody(
      JSON.stringify([{ key: 'a', n: 1 }, { key: '', n: 2 }, { key: 'x\ny', n: 3 }, { n: 4 }]),
      'json',
    );
    const { records, refused } = prepareRecords(keyed, items, options({}));
    expect(records.map((r) => [r.id, r.partition, r.payload])).toEqual([
      ['a', 0, '{"key":"a","n":1}'],
    ]);
    expect(reportRejections(refused)).toEqual([
      { index: 1, field: 'key', reason: 'the record id is empty' },
      { index: 2, field: 'key', reason: 'the record id contains control characters' },
      { index: 3, field: 'key', reason: 'is required' },
    ]);
  });

  it('writes a generated id into a declared id field, as a number for an integer field', () => {
    const intKeyed = sourceDeclarationSchema.parse({
      ...keyed,
      fields: [
        { name: 'key', type: 'integer' },
        { name: 'n', type: 'integer' },
      ],
    });
    const { records } = prepareRecords(
      intKeyed,
      parseBody('[{"n":1},{"key":9,"n":2}]', 'json'),
      options({ idFrom: 'row', idOffset: 5 }),
    );
    expect(records.map((r) => [r.id, r.payload])).toEqual([
      ['5', '{"n":1,"key":5}'],
      ['6', '{"n":2,"key":6}'],
    ]);
  });
});

describe('RecordPreparer', () => {
  it('prepares one record per call, collecting refusals as it goes', () => {
    const items = parseBody('[{"key":"a","n":1},{"n":2},{"key":"c","n":3}]', 'json');
    const preparer = new RecordPreparer(keyed, items, options({}));
    expect(preparer.next()?.id).toBe('a');
    expect(preparer.refused).toEqual([]);
    expect(preparer.next()?.id).toBe('c');
    expect(preparer.refused.map((r) => r.index)).toEqual([1]);
    expect(preparer.next()).toBeUndefined();
    expect(preparer.next()).toBeUndefined();
  });
});
