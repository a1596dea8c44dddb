import { describe, expect, it } from 'vitest';
import { EpochGate } from './epoch-gate';

const metrics = (loss: number, auc?: number) => ({
  loss,
  examples: 100,
  ...(auc === undefined ? {} : { auc }),
});

describe('EpochGate', () => {
  it('waits for every worker and the evaluation, then proceeds', () => {
    const gate = new EpochGate({ workers: 2, epochs: 3 });
    expect(gate.arrive(0, 0)).toBeUndefined();
    expect(gate.waitingFor(0)).toEqual({ workers: [1], evaluation: true });
    expect(gate.evaluation(0, metrics(0.6))).toBeUndefined();
    expect(gate.arrive(1, 0)).toEqual({ proceed: true, reason: null });
    expect(gate.arrive(0, 0)).toEqual({ proceed: true, reason: null });
  });

  it('decides when the evaluation arrives last', () => {
    const gate = new EpochGate({ workers: 1, epochs: 2 });
    expect(gate.arrive(0, 0)).toBeUndefined();
    expect(gate.evaluation(0, metrics(0.6))).toEqual({ proceed: true, reason: null });
  });

  it('stops after the last epoch, and the stop holds for later epochs', () => {
    const gate = new EpochGate({ workers: 1, epochs: 1 });
    gate.evaluation(0, metrics(0.5));
    expect(gate.arrive(0, 0)).toEqual({ proceed: false, reason: 'completed 1 epoch(s)' });
    expect(gate.arrive(0, 5)).toEqual({ proceed: false, reason: 'completed 1 epoch(s)' });
    expect(gate.stopVerdict()).toEqual({ proceed: false, reason: 'completed 1 epoch(s)' });
  });

  it('has no stop verdict while training goes on', () => {
    const gate = new EpochGate({ workers: 1, epochs: 2 });
    gate.evaluation(0, metrics(0.5));
    expect(gate.arrive(0, 0)?.proceed).toBe(true);
    expect(gate.stopVerdict()).toBeUndefined();
  });

  it('stops when the validation loss is not finite', () => {
    const gate = new EpochGate({ workers: 1, epochs: 10 });
    gate.arrive(0, 0);
    expect(gate.evaluation(0, metrics(Number.NaN))).toEqual({
      proceed: false,
      reason: 'validation metrics of epoch 0 are not finite',
    });
  });

  it('stops early when the metric has not improved for `patience` epochs (higher-is-better auc)', () => {
    const gate = new EpochGate({
      workers: 1,
      epochs: 100,
      earlyStopping: { metric: 'auc', patience: 2, minDelta: 0.01 },
    });
    const run = (epoch: number, auc: number) => {
      gate.evaluation(epoch, metrics(0.5, auc));
      return gate.arrive(0, epoch);
    };
    expect(run(0, 0.6)).toEqual({ proceed: true, reason: null });
    expect(run(1, 0.65)).toEqual({ proceed: true, reason: null });
    expect(run(2, 0.655)).toEqual({ proceed: true, reason: null }); // within minDelta: no improvement (wait 1)
    expect(run(3, 0.64)).toEqual({
      proceed: false,
      reason:
        'early stopping: auc has not improved by more than 0.01 for 2 epoch(s) (best 0.65 at epoch 1)',
    });
  });

  it('stops at the first non-improvement with patience 0 (lower-is-better loss)', () => {
    const gate = new EpochGate({
      workers: 1,
      epochs: 100,
      earlyStopping: { metric: 'loss', patience: 0, minDelta: 0 },
    });
    gate.evaluation(0, metrics(0.5));
    expect(gate.arrive(0, 0)?.proceed).toBe(true);
    gate.evaluation(1, metrics(0.4));
    expect(gate.arrive(0, 1)?.proceed).toBe(true);
    gate.evaluation(2, metrics(0.45));
    expect(gate.arrive(0, 2)?.proceed).toBe(false);
  });

  it('does not stop early when the metric is never reported', () => {
    const gate = new EpochGate({
      workers: 1,
      epochs: 5,
      earlyStopping: { metric: 'auc', patience: 0, minDelta: 0 },
    });
    gate.evaluation(0, metrics(0.5));
    gate.evaluation(1, metrics(0.5));
    expect(gate.arrive(0, 0)?.proceed).toBe(true);
    expect(gate.arrive(0, 1)?.proceed).toBe(true);
  });

  it('refuses a worker outside the job and bad settings', () => {
    expect(() => new EpochGate({ workers: 2, epochs: 1 }).arrive(2, 0)).toThrow(
      /not one of the job's 2 workers/,
    );
    expect(() => new EpochGate({ workers: 0, epochs: 1 })).toThrow(/workers/);
  });
});

describe('EpochGate.rollback', () => {
  it('drops arrivals and evaluations without a verdict, keeps verdicts', () => {
    const gate = new EpochGate({ workers: 2, epochs: 3 });
    const metrics = { loss: 0.5, examples: 10 };
    gate.arrive(0, 0);
    gate.arrive(1, 0);
    expect(gate.evaluation(0, metrics)).toEqual({ proceed: true, reason: null });
    gate.arrive(0, 1);
    gate.evaluation(1, metrics);
    expect(gate.rollback()).toEqual([1]);
    expect(gate.arrive(0, 0)).toEqual({ proceed: true, reason: null });
    // Epoch 1 starts over: both workers and a new evaluation are needed.
    expect(gate.arrive(1, 1)).toBeUndefined();
    expect(gate.evaluation(1, metrics)).toBeUndefined();
    expect(gate.waitingFor(1)).toEqual({ workers: [0], evaluation: false });
    expect(gate.arrive(0, 1)).toEqual({ proceed: true, reason: null });
  });
});
