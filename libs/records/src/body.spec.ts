import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dln/contracts';
import { bodyFormatOf, parseBody } from './body';

describe('bodyFormatOf', () => {
  it('maps content types, ignoring parameters and case', () => {
    expect(bodyFormatOf('application/json; charset=utf-8')).toBe('json');
    expect(bodyFormatOf('Application/X-NDJSON')).toBe('ndjson');
    expect(bodyFormatOf('text/csv;header=present')).toBe('csv');
    expect(bodyFormatOf('text/plain')).toBeUndefined();
    expect(bodyFormatOf(undefined)).toBeUndefined();
  });
});

describe('parseBody', () => {
  it('reads a JSON array or one object', () => {
    expect(parseBody('[{"a":1},2]', 'json')).toEqual([
      { index: 0, value: { a: 1 }, textValues: false },
      { index: 1, value: 2, textValues: false },
    ]);
    expect(parseBody('{"a":1}', 'json')).toEqual([
      { index: 0, value: { a: 1 }, textValues: false },
    ]);
  });

  it('refuses malformed or scalar JSON bodies as a whole', () => {
    expect(() => parseBody('[{"a":1},', 'json')).toThrow(ValidationError);
    expect(() => parseBody('[NaN]', 'json')).toThrow(/malformed JSON/);
    expect(() => parseBody('3', 'json')).toThrow(/array of records/);
    expect(() => parseBody('', 'json')).toThrow(/malformed JSON/);
  });

  it('reads NDJSON line by line, reporting bad lines and skipping blank ones', () => {
    const items = parseBody('{"a":1}\r\n\n{"a":\n{"a":NaN}\n{"a":3}', 'ndjson');
    expect(
      items.map((item) => [item.index, item.line, item.error === undefined ? item.value : 'bad']),
    ).toEqual([
      [0, 1, { a: 1 }],
      [1, 3, 'bad'],
      [2, 4, 'bad'],
      [3, 5, { a: 3 }],
    ]);
    expect(items[1]?.error).toMatch(/^malformed JSON/);
  });

  it('reads CSV rows as objects of text keyed by the header', () => {
    expect(parseBody('a,b\n1,\n2\n', 'csv')).toEqual([
      { index: 0, line: 2, value: { a: '1', b: null }, textValues: true },
      { index: 1, line: 3, error: 'has 1 fields, the header has 2' },
    ]);
  });
});
