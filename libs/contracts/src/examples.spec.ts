import { describe, expect, it } from 'vitest';
import { decodeExample, encodeExample, ExampleFormatError } from './examples';

describe('example codec', () => {
  it('round-trips dense values, ids and the label bit-exactly', () => {
    const example = {
      dense: new Float32Array([0.5, -1.25, 3e-8, 0]),
      ids: new Int32Array([0, 7, 2 ** 31 - 1]),
      label: 1,
    };
    const bytes = encodeExample(example);
    expect(bytes.byteLength).toBe(12 + 4 * 7);
    const back = decodeExample(bytes);
    expect(Array.from(back.dense)).toEqual(Array.from(example.dense));
    expect(Array.from(back.ids)).toEqual([0, 7, 2 ** 31 - 1]);
    expect(back.label).toBe(1);
  });

  it('keeps a missing label as NaN and decodes from an offset view', () => {
    const bytes = encodeExample({
      dense: new Float32Array([1]),
      ids: new Int32Array(0),
      label: NaN,
    });
    const padded = new Uint8Array(bytes.byteLength + 3);
    padded.set(bytes, 3);
    const back = decodeExample(padded.subarray(3));
    expect(back.label).toBeNaN();
    expect(Array.from(back.dense)).toEqual([1]);
  });

  it('refuses truncated bytes and unknown format versions', () => {
    const bytes = encodeExample({
      dense: new Float32Array([1, 2]),
      ids: new Int32Array([1]),
      label: 0,
    });
    expect(() => decodeExample(bytes.subarray(0, 8))).toThrow(ExampleFormatError);
    expect(() => decodeExample(bytes.subarray(0, bytes.byteLength - 4))).toThrow(/header says/);
    const wrong = bytes.slice();
    wrong[0] = 9;
    expect(() => decodeExample(wrong)).toThrow(/format 9/);
  });
});
