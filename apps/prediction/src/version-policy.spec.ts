import { ModelVersion } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { loadOrder, versionsToKeep } from './version-policy';

const version = (n: number, extra: Partial<ModelVersion> = {}): ModelVersion => ({
  model: 'flights',
  version: n,
  jobId: 'j',
  pipeline: 'p',
  pipelineVersion: 1,
  objects: [],
  metrics: { loss: 0.5, examples: 10 },
  isDefault: false,
  pinned: false,
  createdAt: '2026-12-04T00:00:00.000Z',
  ...extra,
});

describe('which versions prediction holds and loads', () => {
  it('keeps the newest K, the default and the pinned ones', () => {
    const versions = [
      version(1, { pinned: true }),
      version(2, { isDefault: true }),
      version(3),
      version(4),
      version(5),
    ];
    expect([...versionsToKeep(versions, 2)].sort()).toEqual([1, 2, 4, 5]);
  });

  it('loads the wanted default first, then the newest first', () => {
    const order = loadOrder([version(2), version(4), version(5), version(3)], 2);
    expect(order.map((v) => v.version)).toEqual([2, 5, 4, 3]);
    expect(loadOrder([version(1), version(3)], null).map((v) => v.version)).toEqual([3, 1]);
  });
});
