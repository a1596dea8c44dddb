import type { OutputSchema } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { CatalogueEntry, checkPromotionPolicy, decideModelVersion } from './model-versions';

const entry = (
  version: number,
  loss: number,
  extra: Partial<CatalogueEntry> = {},
): CatalogueEntry => ({
  version,
  metrics: { loss, auc: 0.7, examples: 10 },
  isDefault: false,
  pinned: false,
  ...extra,
});
const candidate = (loss: number, auc = 0.7) => ({
  metrics: { loss, auc, examples: 10 },
  finite: true,
});
const byLoss = { metric: 'loss' as const, margin: 0.01 };

describe('decideModelVersion', () => {
  it('makes the first version the default', () => {
    expect(decideModelVersion([], candidate(0.5), byLoss)).toMatchObject({
      accepted: true,
      version: 1,
      becomesDefault: true,
    });
  });

  it('numbers versions after the highest one', () => {
    const existing = [entry(1, 0.5), entry(4, 0.5, { isDefault: true }), entry(2, 0.5)];
    expect(decideModelVersion(existing, candidate(0.5), byLoss)).toMatchObject({
      version: 5,
      becomesDefault: true,
    });
  });

  it('refuses NaN or infinite metrics and non-finite weights', () => {
    expect(decideModelVersion([], candidate(Number.NaN), byLoss)).toEqual({
      accepted: false,
      reason: 'validation loss not finite',
    });
    expect(decideModelVersion([], candidate(0.5, Number.POSITIVE_INFINITY), byLoss)).toEqual({
      accepted: false,
      reason: 'validation auc not finite',
    });
    expect(decideModelVersion([], { ...candidate(0.5), finite: false }, byLoss)).toEqual({
      accepted: false,
      reason: 'the exported weights are not all finite',
    });
  });

  it('promotes within the margin and not beyond it (lower-is-better loss)', () => {
    const existing = [entry(1, 0.5, { isDefault: true })];
    expect(decideModelVersion(existing, candidate(0.509), byLoss)).toMatchObject({
      version: 2,
      becomesDefault: true,
    });
    const worse = decideModelVersion(existing, candidate(0.52), byLoss);
    expect(worse).toMatchObject({ accepted: true, version: 2, becomesDefault: false });
    expect(worse.reason).toMatch(
      /worse than version 1's 0.5 by 0.02\d*, more than the margin 0.01/,
    );
  });

  it('compares higher-is-better metrics the other way', () => {
    const existing = [entry(1, 0.5, { isDefault: true })];
    const byAuc = { metric: 'auc' as const, margin: 0.005 };
    expect(decideModelVersion(existing, candidate(0.9, 0.696), byAuc)).toMatchObject({
      becomesDefault: true,
    });
    expect(decideModelVersion(existing, candidate(0.1, 0.69), byAuc)).toMatchObject({
      becomesDefault: false,
    });
  });

  it('never replaces a pinned default', () => {
    const existing = [entry(1, 0.9, { isDefault: true, pinned: true })];
    expect(decideModelVersion(existing, candidate(0.1), byLoss)).toEqual({
      accepted: true,
      version: 2,
      becomesDefault: false,
      reason: 'version 1 is pinned as the default',
    });
  });

  it('handles metrics that cannot be compared', () => {
    const noAuc = [
      { version: 1, metrics: { loss: 0.1, examples: 1 }, isDefault: true, pinned: false },
    ];
    const byAuc = { metric: 'auc' as const, margin: 0 };
    expect(decideModelVersion(noAuc, candidate(0.5), byAuc)).toMatchObject({
      becomesDefault: true,
    });
    expect(
      decideModelVersion(
        [entry(1, 0.5, { isDefault: true })],
        { metrics: { loss: 0.1, examples: 1 }, finite: true },
        byAuc,
      ),
    ).toMatchObject({
      becomesDefault: false,
    });
  });
});

describe('checkPromotionPolicy', () => {
  const numeric: OutputSchema = {
    formatVersion: 1,
    dense: [],
    denseWidth: 1,
    ids: [],
    label: { kind: 'numeric' },
  };
  it('accepts metrics of the label and names the field otherwise', () => {
    expect(checkPromotionPolicy({ metric: 'rmse', margin: 0 }, numeric)).toEqual([]);
    expect(checkPromotionPolicy({ metric: 'auc', margin: 0 }, numeric)).toEqual([
      {
        path: 'output.promotion.metric',
        message: 'metric "auc" does not apply to a numeric label (use one of: loss, mae, rmse)',
      },
    ]);
  });
});
