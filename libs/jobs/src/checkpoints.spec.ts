import type { ParameterLayout } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { CheckpointTracker, manifestObjectName } from './checkpoints';

const layout: ParameterLayout = {
  totalSize: 6,
  shardSizes: [4, 2],
  variables: [
    { name: 'dense/kernel', shape: [2, 2], size: 4, offset: 0, shard: 0, shardOffset: 0 },
    { name: 'dense/bias', shape: [2], size: 2, offset: 4, shard: 1, shardOffset: 0 },
  ],
};
const shard = (index: number, step: number) => ({
  shard: index,
  step,
  updateCount: step,
  object: `job/g0/step-${step}/shard-${index}`,
});

describe('CheckpointTracker', () => {
  it('completes a step once every shard reported it, and builds its manifest', () => {
    const tracker = new CheckpointTracker({ jobId: 'job', generation: 0, shards: 2, keep: 2 });
    expect(tracker.report(shard(1, 100))).toBeUndefined();
    expect(tracker.report(shard(1, 100))).toBeUndefined();
    const done = tracker.report(shard(0, 100));
    expect(done?.map((s) => s.shard)).toEqual([0, 1]);
    const manifest = tracker.manifest(
      done!,
      layout,
      'adam',
      [{ worker: 0, epoch: 1, step: 100 }],
      '2026-01-01T00:00:00.000Z',
    );
    expect(manifest).toEqual({
      jobId: 'job',
      generation: 0,
      step: 100,
      createdAt: '2026-01-01T00:00:00.000Z',
      shards: [
        { shard: 0, object: 'job/g0/step-100/shard-0', updateCount: 100 },
        { shard: 1, object: 'job/g0/step-100/shard-1', updateCount: 100 },
      ],
      variables: layout.variables,
      optimizer: 'adam',
      workerPositions: [{ worker: 0, epoch: 1, step: 100 }],
    });
    expect(manifestObjectName('job', 0, 100)).toBe('job/g0/step-100/manifest.json');
  });

  it('keeps the last K and names the older ones to delete', () => {
    const tracker = new CheckpointTracker({ jobId: 'job', generation: 0, shards: 1, keep: 2 });
    const commit = (step: number) => {
      tracker.report(shard(0, step));
      return tracker.committed({
        generation: 0,
        step,
        manifest: manifestObjectName('job', 0, step),
        objects: [`o${step}`],
      });
    };
    expect(commit(10)).toEqual([]);
    expect(commit(20)).toEqual([]);
    expect(commit(30)).toEqual([
      { generation: 0, step: 10, manifest: 'job/g0/step-10/manifest.json', objects: ['o10'] },
    ]);
    expect(tracker.latest()?.step).toBe(30);
    expect(tracker.list().map((c) => c.step)).toEqual([20, 30]);
    expect(tracker.report(shard(0, 30))).toBeUndefined();
  });

  it('abandons older incomplete steps once a newer one completes', () => {
    const tracker = new CheckpointTracker({ jobId: 'job', generation: 0, shards: 2, keep: 3 });
    tracker.report(shard(0, 10));
    tracker.report(shard(0, 20));
    expect(tracker.report(shard(1, 20))).toHaveLength(2);
    expect(tracker.report(shard(1, 10))).toBeUndefined();
  });

  it('resumes from existing checkpoints and refuses foreign shards', () => {
    const tracker = new CheckpointTracker({ jobId: 'job', generation: 1, shards: 1, keep: 1 }, [
      { generation: 0, step: 50, manifest: 'm50', objects: [] },
    ]);
    expect(tracker.latest()?.step).toBe(50);
    expect(() => tracker.report(shard(1, 60))).toThrow(/not one of the job's 1 shards/);
    expect(() => tracker.manifest([], layout, 'sgd', [], 'now')).toThrow(/every shard/);
  });
});
