import { describe, expect, it } from 'vitest';
import {
  MISSING,
  readCategory,
  readNumber,
  readTimestamp,
  RecordEncodeError,
  recordIdOf,
} from './values';

describe('reading inputs', () => {
  it('numbers: NaN, ±Infinity, null, absent and "" are missing; other types are errors', () => {
    const r = { a: 1.5, b: NaN, c: Infinity, d: -Infinity, e: null, f: '', g: '12', h: true, i: 0 };
    expect(readNumber(r, 'a', 'x')).toBe(1.5);
    expect(readNumber(r, 'i', 'x')).toBe(0);
    for (const field of ['b', 'c', 'd', 'e', 'f', 'absent'])
      expect(readNumber(r, field, 'x')).toBe(MISSING);
    expect(() => readNumber(r, 'g', 'x')).toThrow('field "g" (x): expected a number, got string');
    expect(() => readNumber(r, 'h', 'x')).toThrow(RecordEncodeError);
  });

  it('categories: canonical text; "" and non-finite numbers are missing', () => {
    const r = { s: 'DTW', n: 3.0, m: -0, t: true, f: false, e: '', x: NaN, o: { a: 1 }, w: ' ' };
    expect(readCategory(r, 's', 'c')).toBe('DTW');
    expect(readCategory(r, 'n', 'c')).toBe('3');
    expect(readCategory(r, 'm', 'c')).toBe('0');
    expect(readCategory(r, 't', 'c')).toBe('true');
    expect(readCategory(r, 'f', 'c')).toBe('false');
    expect(readCategory(r, 'w', 'c')).toBe(' ');
    for (const field of ['e', 'x', 'absent']) expect(readCategory(r, field, 'c')).toBe(MISSING);
    expect(() => readCategory(r, 'o', 'c')).toThrow(
      'field "o" (c): expected a string, number or boolean, got object',
    );
  });

  it('timestamps: epoch ms within the Date range; strings are refused', () => {
    expect(readTimestamp({ t: 979397760000 }, 't', 'h')).toBe(979397760000);
    expect(readTimestamp({ t: null }, 't', 'h')).toBe(MISSING);
    expect(readTimestamp({ t: NaN }, 't', 'h')).toBe(MISSING);
    expect(() => readTimestamp({ t: 9e15 }, 't', 'h')).toThrow(/outside the representable range/);
    expect(() => readTimestamp({ t: '2001/01/13 14:56' }, 't', 'h')).toThrow(
      /epoch milliseconds, got string/,
    );
  });

  it('record ids: strings as is, numbers as text, none is an error', () => {
    expect(recordIdOf({ _id: 'r1' }, '_id')).toBe('r1');
    expect(recordIdOf({ id: 17 }, 'id')).toBe('17');
    expect(() => recordIdOf({ id: '' }, 'id')).toThrow(/no id/);
  });
});
