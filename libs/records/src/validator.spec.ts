import { describe, expect, it } from 'vitest';
import { sourceDeclarationSchema } from '@dln/contracts';
import { compileRecordValidator } from './validator';

const decl = sourceDeclarationSchema.parse({
  name: 'v',
  fields: [
    { name: 'n', type: 'number' },
    { name: 'i', type: 'integer', nullable: true },
    { name: 's', type: 'string', maxLength: 5 },
    { name: 'b', type: 'boolean', nullable: true },
    { name: 't', type: 'timestamp', nullable: true },
    { name: 'ns', type: 'string', nullable: true },
  ],
});
const validate = compileRecordValidator(decl);

describe('compileRecordValidator on JSON values', () => {
  it('normalizes a good record: declared order, nulls for absent nullables, timestamps in ms', () => {
    expect(validate({ s: 'abc', n: 1.5, t: '2001/01/01 00:01' }, false)).toEqual({
      record: { n: 1.5, i: null, s: 'abc', b: null, t: 978_307_260_000, ns: null },
    });
    expect(validate({ n: -0.25, i: 7, s: '', b: false, t: 5, ns: '' }, false).record).toEqual({
      n: -0.25,
      i: 7,
      s: '',
      b: false,
      t: 5,
      ns: '',
    });
  });

  it('names the field and the reason of each problem', () => {
    const cases: [unknown, string | null, string][] = [
      [[1], null, 'a record must be a JSON object'],
      ['x', null, 'a record must be a JSON object'],
      [null, null, 'a record must be a JSON object'],
      [{ s: 'a' }, 'n', 'is required'],
      [{ n: null, s: 'a' }, 'n', 'is required'],
      [{ n: Number.NaN, s: 'a' }, 'n', 'must be a finite number'],
      [{ n: Number.POSITIVE_INFINITY, s: 'a' }, 'n', 'must be a finite number'],
      [{ n: '1', s: 'a' }, 'n', 'must be a number, got string'],
      [{ n: '', s: 'a' }, 'n', 'must be a number, got string'],
      [{ n: 1, i: 1.5, s: 'a' }, 'i', 'must be an integer (within ±2^53)'],
      [{ n: 1, i: 2 ** 53, s: 'a' }, 'i', 'must be an integer (within ±2^53)'],
      [{ n: 1, s: 'abcdef' }, 's', 'longer than 5 characters'],
      [{ n: 1, s: 3 }, 's', 'must be a string, got number'],
      [{ n: 1, s: 'a', b: 'true' }, 'b', 'must be a boolean'],
      [{ n: 1, s: 'a', t: '' }, 't', 'must be ISO 8601 or "YYYY/MM/DD HH:MM[:SS]"'],
      [{ n: 1, s: 'a', t: 1.5 }, 't', 'epoch milliseconds must be a safe integer'],
      [{ n: 1, s: 'a', extra: 1 }, 'extra', 'is not a declared field'],
    ];
    for (const [value, field, reason] of cases) {
      expect(validate(value, false), JSON.stringify(value)).toEqual({ problem: { field, reason } });
    }
  });

  it('drops unknown fields when the source says so', () => {
    const lenient = compileRecordValidator({ ...decl, unknownFields: 'drop' });
    expect(lenient({ n: 1, s: 'a', extra: 1 }, false).record).not.toHaveProperty('extra');
  });
});

describe('compileRecordValidator on CSV text', () => {
  it('coerces text by the declared type', () => {
    expect(
      validate({ n: '1e3', i: '-4', s: 'x', b: 'TRUE', t: '978307200000', ns: null }, true).record,
    ).toEqual({
      n: 1000,
      i: -4,
      s: 'x',
      b: true,
      t: 978_307_200_000,
      ns: null,
    });
    expect(validate({ n: '.5', i: null, s: null, b: '0', t: null, ns: '' }, true).record).toEqual({
      n: 0.5,
      i: null,
      s: '',
      b: false,
      t: null,
      ns: '',
    });
  });

  it('refuses NaN, Infinity, empty required numbers and non-numbers', () => {
    const cases: [Record<string, string | null>, string, string][] = [
      [{ n: 'NaN', s: 'a' }, 'n', 'must be a finite number'],
      [{ n: '-Infinity', s: 'a' }, 'n', 'must be a finite number'],
      [{ n: '1e999', s: 'a' }, 'n', 'must be a finite number'],
      [{ n: null, s: 'a' }, 'n', 'is required'],
      [{ n: ' 1', s: 'a' }, 'n', 'must be a number'],
      [{ n: '0x10', s: 'a' }, 'n', 'must be a number'],
      [{ n: '1', i: '2.5', s: 'a' }, 'i', 'must be an integer (within ±2^53)'],
      [{ n: '1', s: 'a', b: 'yes' }, 'b', 'must be a boolean'],
      [{ n: '1', s: 'a', t: '2001/02/30 00:00' }, 't', 'no such day'],
    ];
    for (const [value, field, reason] of cases) {
      expect(validate(value, true), JSON.stringify(value)).toEqual({ problem: { field, reason } });
    }
  });
});
