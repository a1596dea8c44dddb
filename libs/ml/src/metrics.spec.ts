import { describe, expect, it } from 'vitest';
import {
  aucByRanks,
  binaryAccuracy,
  categoricalLogLoss,
  classAccuracy,
  computeMetrics,
  logLoss,
  meanAbsoluteError,
  rootMeanSquaredError,
} from './metrics';

describe('metrics', () => {
  it('computes AUC by ranks with tied scores averaged', () => {
    // Pairs (positive, negative): scores p = [0.8, 0.4, 0.4], n = [0.4, 0.1].
    // 0.8 beats both (2); each 0.4 ties 0.4 (0.5) and beats 0.1 (1): 2 + 1.5 + 1.5 = 5 of 6.
    expect(aucByRanks([0.8, 0.4, 0.4, 0.4, 0.1], [1, 1, 1, 0, 0])).toBeCloseTo(5 / 6, 12);
    expect(aucByRanks([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1])).toBe(1);
    expect(aucByRanks([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0])).toBe(0);
    expect(aucByRanks([0.5, 0.5, 0.5], [1, 0, 1])).toBe(0.5);
    expect(aucByRanks([0.2, 0.3], [1, 1])).toBeNaN();
  });

  it('agrees with a brute-force pair count on random scores with ties', () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const scores = Array.from({ length: 300 }, () => Math.round(random() * 20) / 20);
    const labels = scores.map((s) => (random() < s ? 1 : 0));
    let wins = 0;
    let pairs = 0;
    scores.forEach((sp, i) => {
      if (labels[i] !== 1) return;
      scores.forEach((sn, j) => {
        if (labels[j] !== 0) return;
        pairs += 1;
        wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
      });
    });
    expect(aucByRanks(scores, labels)).toBeCloseTo(wins / pairs, 12);
  });

  it('computes log loss, accuracy and the regression errors by hand', () => {
    expect(logLoss([0.9, 0.2], [1, 0])).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8)) / 2, 12);
    expect(logLoss([1, 0], [0, 1])).toBeCloseTo(-Math.log(1e-7), 6);
    expect(binaryAccuracy([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 0])).toBe(0.75);
    expect(categoricalLogLoss([0.7, 0.2, 0.1, 0.1, 0.1, 0.8], [0, 2], 3)).toBeCloseTo(
      -(Math.log(0.7) + Math.log(0.8)) / 2,
      12,
    );
    expect(classAccuracy([0.7, 0.2, 0.1, 0.1, 0.8, 0.1], [0, 2], 3)).toBe(0.5);
    expect(meanAbsoluteError([1, 2, 4], [1, 3, 2])).toBeCloseTo(1, 12);
    expect(rootMeanSquaredError([1, 2, 4], [1, 3, 2])).toBeCloseTo(Math.sqrt(5 / 3), 12);
  });

  it('picks the metrics for each label kind', () => {
    expect(Object.keys(computeMetrics('binary', [0.9, 0.1], [1, 0])).sort()).toEqual([
      'accuracy',
      'auc',
      'count',
      'loss',
    ]);
    expect(computeMetrics('class', [0.7, 0.3, 0.4, 0.6], [0, 1], 2)).toMatchObject({
      accuracy: 1,
      count: 2,
    });
    expect(computeMetrics('numeric', [1, 2], [2, 2])).toEqual({
      count: 2,
      loss: 0.5,
      mae: 0.5,
      rmse: Math.sqrt(0.5),
    });
    expect(() => computeMetrics('binary', [0.1], [1, 0])).toThrow(/1 predictions for 2 labels/);
  });
});
