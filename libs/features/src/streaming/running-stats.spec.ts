import { describe, expect, it } from 'vitest';
import { GrowingVocabulary, OnlineStats } from './running-stats';

describe('OnlineStats', () => {
  it('gives the hand-computed mean, population std, min and max', () => {
    // 2 4 4 4 5 5 7 9: sum 40, mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; 32/8 = 4
    const stats = new OnlineStats();
    for (const x of [2, 4, 4, 4, 5, 5, 7, 9]) stats.add(x);
    expect(stats.count).toBe(8);
    expect(stats.mean).toBe(5);
    expect(stats.variance).toBe(4);
    expect(stats.std).toBe(2);
    expect([stats.min, stats.max]).toEqual([2, 9]);
  });

  it('continues bit for bit after a restore through JSON', () => {
    const values = [0.1, 7.3, -2.25, 1e6, 3.5, 0.3, 42];
    const straight = new OnlineStats();
    for (const x of values) straight.add(x);
    const first = new OnlineStats();
    for (const x of values.slice(0, 3)) first.add(x);
    const restored = OnlineStats.from(JSON.parse(JSON.stringify(first.state())));
    for (const x of values.slice(3)) restored.add(x);
    expect(restored.state()).toEqual(straight.state());
  });

  it('has null min/max when empty (JSON has no Infinity) and refuses NaN', () => {
    expect(new OnlineStats().state()).toEqual({ count: 0, mean: 0, m2: 0, min: null, max: null });
    expect(OnlineStats.from(new OnlineStats().state()).min).toBe(Infinity);
    expect(() => new OnlineStats().add(NaN)).toThrow(/finite/);
  });
});

describe('GrowingVocabulary', () => {
  it('gives the next id to each new value until the cap, then 0; ids never change', () => {
    const vocabulary = new GrowingVocabulary(2);
    expect(['b', 'a', 'b', 'c', 'a', 'd'].map((t) => vocabulary.observe(t))).toEqual([
      1, 2, 1, 0, 2, 0,
    ]);
    expect(vocabulary.list()).toEqual(['b', 'a']);
    expect(vocabulary.overflow).toBe(2);
    expect(vocabulary.idOf('c')).toBe(0);
    const restored = GrowingVocabulary.from(2, vocabulary.list(), vocabulary.overflow);
    expect(restored.observe('a')).toBe(2);
    expect(restored.observe('e')).toBe(0);
    expect(restored.overflow).toBe(3);
  });

  it('refuses a state larger than its cap and a cap below 1', () => {
    expect(() => GrowingVocabulary.from(1, ['a', 'b'])).toThrow(/exceeds its cap/);
    expect(() => new GrowingVocabulary(0)).toThrow(/cap/);
  });
});
