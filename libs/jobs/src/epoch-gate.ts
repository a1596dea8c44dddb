import type { EpochGateReply, EvaluationMetrics, TrainingSettings } from '@dln/contracts';
import { allFinite, metricValue, worsening } from './metrics';

export interface EpochGateSettings {
  workers: number;
  epochs: number;
  earlyStopping?: TrainingSettings['earlyStopping'];
}

/**
 * Decides, at the end of each epoch, whether the workers go on. The verdict for epoch `e`
 * (0-based) is known once every worker has arrived at the end of `e` and worker 0's evaluation
 * of `e` is in: stop after the last epoch, when the validation loss is not finite, or when the
 * early-stopping metric has not improved by more than `minDelta` for `patience` epochs (as
 * Keras counts them); otherwise proceed. Verdicts are kept, so a worker that asks again (a retry,
 * or after an AM restart) gets the same answer; a stop is final for every later epoch.
 */
export class EpochGate {
  private readonly arrivals = new Map<number, Set<number>>();
  private readonly evaluations = new Map<number, EvaluationMetrics>();
  private readonly verdicts = new Map<number, EpochGateReply>();
  private stoppedAt: number | undefined;

  constructor(private readonly settings: EpochGateSettings) {
    if (!Number.isSafeInteger(settings.workers) || settings.workers < 1)
      throw new Error('workers must be at least 1');
    if (!Number.isSafeInteger(settings.epochs) || settings.epochs < 1)
      throw new Error('epochs must be at least 1');
  }

  /** Worker `worker` finished epoch `epoch`; returns the verdict when it is known. */
  arrive(worker: number, epoch: number): EpochGateReply | undefined {
    this.checkWorker(worker);
    if (this.stoppedAt !== undefined && epoch >= this.stoppedAt)
      return this.verdicts.get(this.stoppedAt);
    const known = this.verdicts.get(epoch);
    if (known) return known;
    let arrived = this.arrivals.get(epoch);
    if (!arrived) this.arrivals.set(epoch, (arrived = new Set()));
    arrived.add(worker);
    return this.decide(epoch);
  }

  /** Worker 0's evaluation of `epoch`; returns the verdict when it is now known. */
  evaluation(epoch: number, metrics: EvaluationMetrics): EpochGateReply | undefined {
    if (!this.evaluations.has(epoch)) this.evaluations.set(epoch, metrics);
    return this.decide(epoch);
  }

  verdict(epoch: number): EpochGateReply | undefined {
    if (this.stoppedAt !== undefined && epoch >= this.stoppedAt)
      return this.verdicts.get(this.stoppedAt);
    return this.verdicts.get(epoch);
  }

  /** The final verdict once training is over (last epoch, early stop); undefined while it goes on. */
  stopVerdict(): EpochGateReply | undefined {
    return this.stoppedAt === undefined ? undefined : this.verdicts.get(this.stoppedAt);
  }

  /**
   * A rollback under a new generation: arrivals and evaluations of epochs without a verdict came
   * from superseded incarnations and are dropped; verdicts stand (the workers will be told the
   * same when they arrive again). Returns the epochs whose evaluation was dropped.
   */
  rollback(): number[] {
    this.arrivals.clear();
    const dropped = [...this.evaluations.keys()].filter(
      (epoch) => this.verdict(epoch) === undefined,
    );
    for (const epoch of dropped) this.evaluations.delete(epoch);
    return dropped;
  }

  /** Workers still awaited at the end of `epoch`, and whether the evaluation is in. */
  waitingFor(epoch: number): { workers: number[]; evaluation: boolean } {
    const arrived = this.arrivals.get(epoch) ?? new Set<number>();
    const workers = Array.from({ length: this.settings.workers }, (_, index) => index).filter(
      (w) => !arrived.has(w),
    );
    return { workers, evaluation: !this.evaluations.has(epoch) };
  }

  private decide(epoch: number): EpochGateReply | undefined {
    const known = this.verdict(epoch);
    if (known) return known;
    const metrics = this.evaluations.get(epoch);
    if (!metrics || (this.arrivals.get(epoch)?.size ?? 0) < this.settings.workers) return undefined;
    const reply = this.judge(epoch, metrics);
    this.verdicts.set(epoch, reply);
    this.arrivals.delete(epoch);
    if (!reply.proceed) this.stoppedAt = epoch;
    return reply;
  }

  private judge(epoch: number, metrics: EvaluationMetrics): EpochGateReply {
    if (!allFinite(metrics))
      return { proceed: false, reason: `validation metrics of epoch ${epoch} are not finite` };
    if (epoch + 1 >= this.settings.epochs)
      return { proceed: false, reason: `completed ${this.settings.epochs} epoch(s)` };
    const stopping = this.settings.earlyStopping;
    if (stopping) {
      const best = this.best(epoch, stopping.metric, stopping.minDelta);
      const wait = epoch - best.epoch;
      if (best.value !== null && wait > 0 && wait >= stopping.patience) {
        return {
          proceed: false,
          reason: `early stopping: ${stopping.metric} has not improved by more than ${stopping.minDelta} for ${wait} epoch(s) (best ${best.value} at epoch ${best.epoch})`,
        };
      }
    }
    return { proceed: true, reason: null };
  }

  /** The epoch that last improved the metric by more than minDelta, up to `upTo`. */
  private best(
    upTo: number,
    metric: NonNullable<EpochGateSettings['earlyStopping']>['metric'],
    minDelta: number,
  ): { epoch: number; value: number | null } {
    let best: { epoch: number; value: number | null } = { epoch: -1, value: null };
    for (let epoch = 0; epoch <= upTo; epoch += 1) {
      const metrics = this.evaluations.get(epoch);
      const value = metrics ? metricValue(metrics, metric) : undefined;
      if (value === undefined) continue;
      if (best.value === null || worsening(metric, value, best.value) < -minDelta)
        best = { epoch, value };
    }
    return best;
  }

  private checkWorker(worker: number): void {
    if (!Number.isSafeInteger(worker) || worker < 0 || worker >= this.settings.workers) {
      throw new Error(`worker ${worker} is not one of the job's ${this.settings.workers} workers`);
    }
  }
}
