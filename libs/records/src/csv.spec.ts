import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dln/contracts';
import { parseCsv } from './csv';

describe('parseCsv', () => {
  it('reads quoted fields, escaped quotes, CRLF and embedded newlines', () => {
    const table = parseCsv('a,b,c\r\n1,"x,y",\r\n"say ""hi""","line1\nline2",""\r\n4,5,6');
    expect(table.header).toEqual(['a', 'b', 'c']);
    expect(table.rows).toEqual([
      { line: 2, fields: ['1', 'x,y', null] },
      { line: 3, fields: ['say "hi"', 'line1\nline2', ''] },
      { line: 5, fields: ['4', '5', '6'] },
    ]);
  });

  it('reports each bad row with its line and carries on', () => {
    const table = parseCsv('a,b\n1,2\n3\n4,5,6\n7,x"y\n"8"z,9\n\n10,11\n');
    expect(table.rows).toEqual([
      { line: 2, fields: ['1', '2'] },
      { line: 3, error: 'has 1 fields, the header has 2' },
      { line: 4, error: 'has 3 fields, the header has 2' },
      { line: 5, error: 'quote inside an unquoted field' },
      { line: 6, error: 'unexpected character after a closing quote' },
      { line: 8, fields: ['10', '11'] },
    ]);
  });

  it('stops at an unterminated quote', () => {
    expect(parseCsv('a\n1\n"open\n2\n').rows).toEqual([
      { line: 2, fields: ['1'] },
      { line: 3, error: 'unterminated quoted field' },
    ]);
  });

  it('strips a byte-order mark and accepts a missing final newline', () => {
    expect(parseCsv('\ufeffa,b\n1,2')).toEqual({
      header: ['a', 'b'],
      rows: [{ line: 2, fields: ['1', '2'] }],
    });
  });

  it('requires a good header row', () => {
    expect(() => parseCsv('')).toThrow(ValidationError);
    expect(() => parseCsv('\r\n\r\n')).toThrow(/header row is required/);
    expect(() => parseCsv('a,,b\n1,2,3')).toThrow(/column 2 has no name/);
    expect(() => parseCsv('a,a\n1,2')).toThrow(/"a" twice/);
    expect(() => parseCsv('"a\n')).toThrow(/header row/);
  });
});
