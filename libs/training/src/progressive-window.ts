import { EvaluationMetrics, LabelKind } from '@dln/contracts';
import { computeMetrics } from '@dln/ml';
import { toEvaluationMetrics } from './evaluate';

/**
 * Progressive validation of a stream: every example is scored with the parameters it is about
 * to be trained with, and the job's validation metric is taken over the last `capacity` scored
 * examples (a ring of model outputs and labels).
 */
export class ProgressiveWindow {
  private readonly outputs: Float32Array;
  private readonly labels: Float32Array;
  private next = 0;
  private filled = 0;
  private seen = 0;

  constructor(
    readonly capacity: number,
    private readonly labelKind: LabelKind,
    /** Model outputs per example (classes for class labels, else 1). */
    private readonly units: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`bad window ${capacity}`);
    this.outputs = new Float32Array(capacity * units);
    this.labels = new Float32Array(capacity);
  }

  /** Examples scored since the start. */
  get scored(): number {
    return this.seen;
  }

  /** Adds the outputs (size x units) a batch was scored with, and its labels. */
  add(outputs: Float32Array, labels: Float32Array): void {
    if (outputs.length !== labels.length * this.units)
      throw new Error(`${outputs.length} outputs for ${labels.length} labels`);
    for (let row = 0; row < labels.length; row += 1) {
      this.outputs.set(
        outputs.subarray(row * this.units, (row + 1) * this.units),
        this.next * this.units,
      );
      this.labels[this.next] = labels[row] as number;
      this.next = (this.next + 1) % this.capacity;
      this.filled = Math.min(this.capacity, this.filled + 1);
      this.seen += 1;
    }
  }

  /** Metrics over the window (loss = log loss for binary and class labels, MSE for numbers); null when empty. */
  metrics(): EvaluationMetrics | null {
    if (this.filled === 0) return null;
    const n = this.filled;
    const outputs = this.outputs.subarray(0, n * this.units);
    const labels = this.labels.subarray(0, n);
    return toEvaluationMetrics(computeMetrics(this.labelKind, outputs, labels, this.units));
  }
}
