import { describe, expect, it } from 'vitest';
import { EMPTY_PROGRESS, ProgressTracker } from './progress';

describe('ProgressTracker', () => {
  it('starts empty', () => {
    expect(new ProgressTracker().summary()).toEqual(EMPTY_PROGRESS);
  });

  it('aggregates the latest report of each worker', () => {
    const tracker = new ProgressTracker();
    tracker.report(0, { epoch: 1, step: 40, loss: 0.5, examples: 4000, examplesPerSecond: 900 });
    tracker.report(1, { epoch: 0, step: 38, loss: 0.7, examples: 3800, examplesPerSecond: 1100 });
    expect(tracker.summary()).toEqual({
      epoch: 0,
      step: 40,
      loss: 0.6,
      examplesPerSecond: 2000,
      examplesSeen: 7800,
    });
    expect(tracker.positions()).toEqual([
      { worker: 0, epoch: 1, step: 40 },
      { worker: 1, epoch: 0, step: 38 },
    ]);
  });

  it('ignores a reordered older report and leaves non-finite losses out of the mean', () => {
    const tracker = new ProgressTracker();
    expect(
      tracker.report(0, {
        epoch: 0,
        step: 10,
        loss: Number.NaN,
        examples: 100,
        examplesPerSecond: 10,
      }),
    ).toBe(true);
    expect(
      tracker.report(0, { epoch: 0, step: 9, loss: 0.1, examples: 90, examplesPerSecond: 10 }),
    ).toBe(false);
    tracker.report(1, { epoch: 0, step: 10, loss: 0.3, examples: 100, examplesPerSecond: 10 });
    tracker.idle(1);
    expect(tracker.summary()).toMatchObject({
      step: 10,
      loss: 0.3,
      examplesPerSecond: 10,
      examplesSeen: 200,
    });
  });
});

describe('ProgressTracker after failover', () => {
  it('lets a replacement report from below its predecessor, and forgets everyone on a rollback', () => {
    const tracker = new ProgressTracker();
    const at = (epoch: number, step: number, examples: number) => ({
      epoch,
      step,
      loss: 0.5,
      examples,
      examplesPerSecond: 10,
    });
    tracker.report(0, at(1, 20, 200));
    expect(tracker.report(0, at(1, 15, 150))).toBe(false);
    tracker.forget(0);
    expect(tracker.summary()).toMatchObject({ examplesSeen: 200, examplesPerSecond: 0 });
    expect(tracker.worker(0)).toMatchObject({ epoch: 1, step: 20, examples: 200 });
    expect(tracker.report(0, at(1, 15, 150))).toBe(true);
    expect(tracker.report(0, at(1, 14, 140))).toBe(false);
    tracker.clear();
    expect(tracker.positions()).toEqual([]);
  });
});
