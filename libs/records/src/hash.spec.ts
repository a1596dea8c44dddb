import { describe, expect, it } from 'vitest';
import { fnv1a32, partitionOf } from './hash';

describe('fnv1a32', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes of non-ASCII text', () => {
    // 'é' is C3 A9 in UTF-8: ((basis ^ 0xc3) * p ^ 0xa9) * p, mod 2^32, computed by hand with BigInt.
    const p = 16777619n;
    const m = 2n ** 32n;
    const byHand = (((((2166136261n ^ 0xc3n) * p) % m) ^ 0xa9n) * p) % m;
    expect(fnv1a32('é')).toBe(Number(byHand));
    // U+1F600 (a surrogate pair) is F0 9F 98 80.
    let h = 2166136261n;
    for (const b of [0xf0n, 0x9fn, 0x98n, 0x80n]) h = ((h ^ b) * p) % m;
    expect(fnv1a32('\u{1F600}')).toBe(Number(h));
    expect(fnv1a32('€')).toBe(fnv1a32('\u20ac'));
  });
});

describe('partitionOf', () => {
  it('is the hash of the canonical text modulo the partition count', () => {
    expect(partitionOf('a', 7)).toBe(0xe40c292c % 7);
    expect(partitionOf(42, 5)).toBe(fnv1a32('42') % 5);
    expect(partitionOf(true, 3)).toBe(fnv1a32('true') % 3);
    expect(partitionOf(null, 4)).toBe(0);
    expect(partitionOf('anything', 1)).toBe(0);
  });
});
