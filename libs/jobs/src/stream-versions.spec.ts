import { describe, expect, it } from 'vitest';
import { jobSpecSchema, RoleReport } from '@dln/contracts';
import { DEFAULT_PROMOTION } from './model-versions';
import {
  decideStreamVersion,
  JobCatalogueEntry,
  streamExportKey,
  streamMaxAckPending,
  streamRoleSettingsOf,
  versionsToRetire,
} from './stream-versions';

const token = { jobId: 'sj', generation: 1, role: 'worker-0', attempt: 2 };
const exported = (
  loss: number,
  step: number,
  finite = true,
): RoleReport & { type: 'exported' } => ({
  type: 'exported',
  token,
  objects: ['m/sj-g1-s10/model.json'],
  metrics: { loss, examples: 400 },
  trainExamples: 1000,
  finite,
  stream: { step, pipelineVersion: 3 },
});
const entry = (
  version: number,
  jobId = 'sj',
  extra: Partial<JobCatalogueEntry> = {},
): JobCatalogueEntry => ({
  version,
  jobId,
  metrics: { loss: 0.5, examples: 400 },
  isDefault: false,
  pinned: false,
  ...extra,
});

describe('stream versions', () => {
  it('builds the role settings and the backpressure bound of a stream job', () => {
    const spec = jobSpecSchema.parse({
      name: 'clicks',
      mode: 'stream',
      examples: { pipeline: 'clicks' },
      model: { kind: 'logistic' },
      training: { batchSize: 64, optimizer: { kind: 'sgd', learningRate: 0.1 } },
      cluster: { workers: 3, ps: 1 },
      output: { model: 'clicks' },
      stream: { exportEvery: { seconds: 30 }, keepVersions: 2 },
    });
    expect(streamRoleSettingsOf(spec, 'sj', 'clicks')).toMatchObject({
      pipeline: 'clicks',
      consumer: 'job_sj',
      settings: { keepVersions: 2 },
    });
    expect(streamRoleSettingsOf({ mode: 'batch' }, 'sj', 'clicks')).toBeUndefined();
    expect(streamMaxAckPending(spec)).toBe(384);
  });

  it('judges an export on its progressive metric, refusing NaN and exports without a step', () => {
    const current = [entry(1, 'sj', { isDefault: true, metrics: { loss: 0.5, examples: 400 } })];
    expect(decideStreamVersion(current, exported(0.45, 10), DEFAULT_PROMOTION)).toMatchObject({
      accepted: true,
      version: 2,
      becomesDefault: true,
    });
    expect(decideStreamVersion(current, exported(0.6, 10), DEFAULT_PROMOTION)).toMatchObject({
      accepted: true,
      becomesDefault: false,
    });
    expect(decideStreamVersion(current, exported(0.4, 10, false), DEFAULT_PROMOTION).accepted).toBe(
      false,
    );
    const { stream: _omitted, ...batchLike } = exported(0.4, 10);
    expect(decideStreamVersion(current, batchLike, DEFAULT_PROMOTION).accepted).toBe(false);
    expect(streamExportKey(exported(0.4, 10))).toBe('g1.a2.s10');
    expect(streamExportKey(batchLike)).toBeNull();
  });

  it('retires the oldest versions of the job beyond K, never the default, a pinned one or another job', () => {
    const entries = [
      entry(1),
      entry(2, 'sj', { pinned: true }),
      entry(3, 'other'),
      entry(4),
      entry(5, 'sj', { isDefault: true }),
      entry(6),
      entry(7),
    ];
    expect(versionsToRetire(entries, 'sj', 2)).toEqual([1, 4]);
    expect(versionsToRetire(entries, 'sj', 4)).toEqual([]);
    expect(versionsToRetire(entries, 'other', 1)).toEqual([]);
  });
});
