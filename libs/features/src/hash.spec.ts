import { describe, expect, it } from 'vitest';
import { crossBucket, hashBucket, murmur3, splitOf } from './hash';

describe('murmur3 (x86, 32-bit)', () => {
  it('matches the published reference vectors', () => {
    expect(murmur3('', 0)).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3('test', 0)).toBe(0xba6bd213);
    expect(murmur3('Hello, world!', 0x9747b28c)).toBe(0x24884cba);
    expect(murmur3('The quick brown fox jumps over the lazy dog', 0x9747b28c)).toBe(0x2fa826cd);
    expect(murmur3('aaaa', 0x9747b28c)).toBe(0x5a97808a);
    expect(murmur3('aaa', 0x9747b28c)).toBe(0x283e0130);
    expect(murmur3('aa', 0x9747b28c)).toBe(0x5d211726);
    expect(murmur3('a', 0x9747b28c)).toBe(0x7fa09ea6);
  });

  it('hashes the UTF-8 bytes, so non-ASCII text is stable', () => {
    // "ππππππππ" is 16 UTF-8 bytes (CF 80 x 8); reference value from the same vector set.
    expect(murmur3('ππππππππ', 0x9747b28c)).toBe(0xd58063c1);
    expect(murmur3('a'.repeat(2000))).toBe(murmur3('a'.repeat(2000)));
  });

  it('buckets values and crosses into range, crosses unambiguously', () => {
    expect(hashBucket('DTW', 10)).toBe(murmur3('DTW') % 10);
    expect(crossBucket(['DTW', 'LAS'], 1000)).toBe(murmur3('["DTW","LAS"]') % 1000);
    expect(crossBucket(['a,b', 'c'], 1 << 24)).not.toBe(crossBucket(['a', 'b,c'], 1 << 24));
  });
});

describe('splitOf', () => {
  it('is a threshold on the hash: nested across fractions, about the right share', () => {
    let validation = 0;
    for (let i = 0; i < 10_000; i += 1) {
      const id = String(i);
      const small = splitOf(id, 0.1);
      if (small === 'validation') expect(splitOf(id, 0.3)).toBe('validation');
      if (splitOf(id, 0.2) === 'validation') validation += 1;
    }
    expect(validation).toBeGreaterThan(1800);
    expect(validation).toBeLessThan(2200);
    expect(splitOf('7', 0)).toBe('train');
  });

  it('uses the seed as a prefix of the key', () => {
    const id = '42';
    const u = murmur3('s:42') / 2 ** 32;
    expect(splitOf(id, u + 1e-9, 's')).toBe('validation');
    expect(splitOf(id, u, 's')).toBe('train');
  });
});
