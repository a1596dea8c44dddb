import { describe, expect, it } from 'vitest';
import { jobSpecSchema } from './jobs';
import { sequenceRangesOf, sequenceRangesSchema, streamJobConsumer } from './stream-jobs';
import { psHeaderSchema } from './training';

const streamSpec = {
  name: 'clicks',
  mode: 'stream',
  examples: { pipeline: 'clicks' },
  model: { kind: 'mlp', hidden: [4] },
  training: { batchSize: 32, optimizer: { kind: 'adam', learningRate: 0.01 } },
  cluster: { workers: 2, ps: 1 },
  output: { model: 'clicks' },
  stream: { exportEvery: { steps: 100 } },
};

function issuePaths(value: unknown): string[] {
  const parsed = jobSpecSchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'));
}

describe('stream job contracts', () => {
  it('parses a stream job: async by default, no epochs (stored as 1), stream defaults', () => {
    const spec = jobSpecSchema.parse(streamSpec);
    expect(spec.mode).toBe('stream');
    expect(spec.training.updateMode).toBe('async');
    expect(spec.training.epochs).toBe(1);
    expect(spec.stream).toEqual({
      exportEvery: { steps: 100 },
      keepVersions: 3,
      progressiveWindow: 1000,
      startAt: 'first',
      ackWaitSeconds: 30,
      fetchWaitMs: 1000,
    });
  });

  it('refuses what a stream job cannot do, naming the field', () => {
    const training = streamSpec.training;
    expect(issuePaths({ ...streamSpec, training: { ...training, epochs: 3 } })).toEqual([
      'training.epochs',
    ]);
    expect(issuePaths({ ...streamSpec, training: { ...training, updateMode: 'sync' } })).toEqual([
      'training.updateMode',
    ]);
    expect(
      issuePaths({
        ...streamSpec,
        training: { ...training, earlyStopping: { metric: 'loss', patience: 1 } },
      }),
    ).toEqual(['training.earlyStopping']);
    expect(issuePaths({ ...streamSpec, examples: { pipeline: 'clicks', version: 2 } })).toEqual([
      'examples.version',
    ]);
    expect(issuePaths({ ...streamSpec, stream: undefined })).toEqual(['stream']);
    expect(issuePaths({ ...streamSpec, stream: { exportEvery: {} } })).toEqual([
      'stream.exportEvery',
    ]);
    expect(
      issuePaths({ ...streamSpec, stream: { exportEvery: { seconds: 0.5 }, keepVersions: 0 } }),
    ).toEqual(['stream.exportEvery.seconds', 'stream.keepVersions']);
  });

  it('keeps batch jobs as they were and refuses stream settings on them', () => {
    const batch = {
      ...streamSpec,
      mode: 'batch',
      stream: undefined,
      examples: { pipeline: 'clicks', version: 1 },
      training: { ...streamSpec.training, epochs: 2 },
    };
    const spec = jobSpecSchema.parse(batch);
    expect(spec.training).toMatchObject({ epochs: 2, updateMode: 'sync' });
    expect(issuePaths({ ...batch, stream: { exportEvery: { steps: 1 } } })).toEqual(['stream']);
    expect(issuePaths({ ...batch, training: streamSpec.training })).toEqual(['training.epochs']);
  });

  it('names batches by sorted disjoint sequence ranges', () => {
    expect(sequenceRangesOf([7, 3, 4, 5, 9, 8, 12, 3])).toEqual([
      [3, 5],
      [7, 9],
      [12, 12],
    ]);
    expect(sequenceRangesSchema.safeParse([[3, 5]]).success).toBe(true);
    expect(
      sequenceRangesSchema.safeParse([
        [3, 5],
        [5, 6],
      ]).success,
    ).toBe(false);
    expect(sequenceRangesSchema.safeParse([[6, 5]]).success).toBe(false);
    expect(sequenceRangesSchema.safeParse([[0, 1]]).success).toBe(false);
    expect(sequenceRangesSchema.safeParse([]).success).toBe(false);
    const header = {
      token: { jobId: 'j', generation: 0, role: 'worker-0', attempt: 0 },
      shard: 0,
      step: 1,
      count: 2,
      chunk: 0,
      chunks: 1,
      offset: 0,
      total: 4,
      batch: [[10, 11]],
    };
    expect(psHeaderSchema.parse(header).batch).toEqual([[10, 11]]);
    expect(streamJobConsumer('job-1')).toBe('job_job-1');
    expect(() => streamJobConsumer('a.b')).toThrow();
  });
});
