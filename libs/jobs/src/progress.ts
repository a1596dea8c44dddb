import type { JobProgress } from '@dln/contracts';

/** One worker's latest progress report. */
export interface WorkerProgress {
  epoch: number;
  step: number;
  loss: number | null;
  /** Examples this worker has trained on so far (every epoch). */
  examples: number;
  examplesPerSecond: number;
}

export const EMPTY_PROGRESS: JobProgress = {
  epoch: 0,
  step: 0,
  loss: null,
  examplesPerSecond: null,
  examplesSeen: 0,
};

/**
 * Aggregates the workers' latest reports into the job's progress: the epoch every worker has
 * reached (the minimum), the furthest step, the mean of the workers' latest losses (non-finite
 * ones are left out), the summed throughput and examples.
 */
export class ProgressTracker {
  private readonly workers = new Map<number, WorkerProgress>();
  /** Workers replaced since their last report: the next report is taken whatever its position. */
  private readonly replaced = new Set<number>();

  /** Records a report; older steps of the same worker (reordered messages) are ignored. */
  report(worker: number, progress: WorkerProgress): boolean {
    const known = this.workers.get(worker);
    if (this.replaced.delete(worker)) {
      this.workers.set(worker, { ...progress });
      return true;
    }
    if (
      known &&
      (progress.epoch < known.epoch ||
        (progress.epoch === known.epoch && progress.step < known.step))
    ) {
      return false;
    }
    this.workers.set(worker, { ...progress });
    return true;
  }

  /** One worker's latest report, if any. */
  worker(worker: number): WorkerProgress | undefined {
    const known = this.workers.get(worker);
    return known ? { ...known } : undefined;
  }

  positions(): { worker: number; epoch: number; step: number }[] {
    return [...this.workers.entries()]
      .sort(([a], [b]) => a - b)
      .map(([worker, { epoch, step }]) => ({ worker, epoch, step }));
  }

  /**
   * A worker was replaced: its last position stays known (where the replacement resumes, at
   * least), and the replacement's first report is taken even when it is below it.
   */
  forget(worker: number): void {
    const known = this.workers.get(worker);
    if (known) known.examplesPerSecond = 0;
    this.replaced.add(worker);
  }

  /** Forgets every worker (a rollback to a checkpoint under a new generation). */
  clear(): void {
    this.workers.clear();
    this.replaced.clear();
  }

  /** Forgets a worker's throughput (e.g. it finished), keeping its examples and position. */
  idle(worker: number): void {
    const known = this.workers.get(worker);
    if (known) known.examplesPerSecond = 0;
  }

  summary(): JobProgress {
    const reports = [...this.workers.values()];
    if (reports.length === 0) return { ...EMPTY_PROGRESS };
    const losses = reports
      .map((r) => r.loss)
      .filter((loss): loss is number => loss !== null && Number.isFinite(loss));
    return {
      epoch: Math.min(...reports.map((r) => r.epoch)),
      step: Math.max(...reports.map((r) => r.step)),
      loss:
        losses.length === 0 ? null : losses.reduce((sum, loss) => sum + loss, 0) / losses.length,
      examplesPerSecond: reports.reduce(
        (sum, r) => sum + (Number.isFinite(r.examplesPerSecond) ? r.examplesPerSecond : 0),
        0,
      ),
      examplesSeen: reports.reduce((sum, r) => sum + r.examples, 0),
    };
  }
}
