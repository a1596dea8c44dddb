import { OptimizerSettings } from '@dln/contracts';

/**
 * Optimizer state as plain data: the number of updates applied and one Float32Array per slot
 * (`velocity` for momentum, `m` and `v` for Adam), each as long as the parameter vector.
 */
export interface OptimizerState {
  kind: OptimizerSettings['kind'];
  step: number;
  slots: Record<string, Float32Array>;
}

/**
 * An optimizer over one flat parameter vector, as plain loops: on the ps a Float32Array loop
 * takes ~0.14 ms for 50k parameters (Adam, combining two workers' gradients in the same loop)
 * where tfjs's optimizers take ~1 ms. The arithmetic follows tfjs's SGD, momentum and Adam.
 */
export interface FlatOptimizer {
  readonly settings: OptimizerSettings;
  readonly size: number;
  /** Updates `params` in place with `grads` (same length). */
  apply(params: Float32Array, grads: Float32Array): void;
  /**
   * Updates `params` with the gradient `sum of weights[k] * parts[k]`, summed in part order:
   * a sync shard's combination of its workers' gradients, fused into the update loop.
   */
  applyWeighted(
    params: Float32Array,
    parts: readonly Float32Array[],
    weights: readonly number[],
  ): void;
  /** A copy of the state, for checkpoints. */
  snapshot(): OptimizerState;
}

const SLOTS: Record<OptimizerSettings['kind'], readonly string[]> = {
  sgd: [],
  momentum: ['velocity'],
  adam: ['m', 'v'],
};

class LoopOptimizer implements FlatOptimizer {
  private step: number;
  private readonly slots: Record<string, Float32Array>;
  /** applyWeighted with more than two parts: the sum of all but the last. */
  private scratch: Float32Array | undefined;

  constructor(
    readonly settings: OptimizerSettings,
    readonly size: number,
    state?: OptimizerState,
  ) {
    if (state) checkState(settings, size, state);
    this.step = state?.step ?? 0;
    this.slots = Object.fromEntries(
      SLOTS[settings.kind].map((name) => [
        name,
        state ? Float32Array.from(state.slots[name] as Float32Array) : new Float32Array(size),
      ]),
    );
  }

  apply(params: Float32Array, grads: Float32Array): void {
    this.applyWeighted(params, [grads], [1]);
  }

  applyWeighted(
    params: Float32Array,
    parts: readonly Float32Array[],
    weights: readonly number[],
  ): void {
    const sizes = parts.map((part) => part.length);
    if (params.length !== this.size || sizes.some((size) => size !== this.size)) {
      throw new Error(
        `optimizer for ${this.size} values got ${params.length} parameters and ${sizes.join(', ')} gradients`,
      );
    }
    if (parts.length === 0 || weights.length !== parts.length)
      throw new Error(`${parts.length} gradients with ${weights.length} weights`);
    const last = parts.length - 1;
    // Two parts are summed inside the update loop; more are first summed, in order, but the last.
    const first = last <= 1 ? (parts[0] as Float32Array) : this.sum(parts, weights, last);
    const firstWeight = last <= 1 ? (weights[0] as number) : 1;
    const second = parts[last] as Float32Array;
    const secondWeight = last === 0 ? 0 : (weights[last] as number);
    this.step += 1;
    this.update(params, first, firstWeight, second, secondWeight);
  }

  /**
   * One update with the gradient `wa * ga + wb * gb` per value (a single gradient has wb = 0).
   * Adam divides once per value: lr * m / c1 / (sqrt(v / c2) + eps) is computed as
   * (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps), which halved the loop's time on the ps.
   */
  private update(
    params: Float32Array,
    ga: Float32Array,
    wa: number,
    gb: Float32Array,
    wb: number,
  ): void {
    const s = this.settings;
    const n = this.size;
    if (s.kind === 'sgd') {
      const lr = s.learningRate;
      for (let i = 0; i < n; i += 1) {
        const g = wa * (ga[i] as number) + wb * (gb[i] as number);
        params[i] = (params[i] as number) - lr * g;
      }
    } else if (s.kind === 'momentum') {
      const velocity = this.slots['velocity'] as Float32Array;
      const { learningRate: lr, momentum } = s;
      for (let i = 0; i < n; i += 1) {
        const g = wa * (ga[i] as number) + wb * (gb[i] as number);
        velocity[i] = momentum * (velocity[i] as number) + g;
        const update = s.nesterov
          ? g + momentum * (velocity[i] as number)
          : (velocity[i] as number);
        params[i] = (params[i] as number) - lr * update;
      }
    } else {
      const m = this.slots['m'] as Float32Array;
      const v = this.slots['v'] as Float32Array;
      const { beta1, beta2, epsilon } = s;
      const rate = s.learningRate / (1 - beta1 ** this.step);
      const scale = 1 / Math.sqrt(1 - beta2 ** this.step);
      for (let i = 0; i < n; i += 1) {
        const g = wa * (ga[i] as number) + wb * (gb[i] as number);
        const mi = beta1 * (m[i] as number) + (1 - beta1) * g;
        const vi = beta2 * (v[i] as number) + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = (params[i] as number) - (rate * mi) / (Math.sqrt(vi) * scale + epsilon);
      }
    }
  }

  /** `sum of weights[k] * parts[k]` over the first `count` parts, in order. */
  private sum(
    parts: readonly Float32Array[],
    weights: readonly number[],
    count: number,
  ): Float32Array {
    this.scratch ??= new Float32Array(this.size);
    const sum = this.scratch.fill(0);
    for (let k = 0; k < count; k += 1) {
      const part = parts[k] as Float32Array;
      const weight = weights[k] as number;
      for (let i = 0; i < sum.length; i += 1)
        sum[i] = (sum[i] as number) + weight * (part[i] as number);
    }
    return sum;
  }

  snapshot(): OptimizerState {
    const slots = Object.fromEntries(
      Object.entries(this.slots).map(([name, values]) => [name, Float32Array.from(values)]),
    );
    return { kind: this.settings.kind, step: this.step, slots };
  }
}

function checkState(settings: OptimizerSettings, size: number, state: OptimizerState): void {
  if (state.kind !== settings.kind)
    throw new Error(`optimizer state is for ${state.kind}, the settings say ${settings.kind}`);
  if (!Number.isInteger(state.step) || state.step < 0)
    throw new Error(`optimizer state step ${state.step} is invalid`);
  const names = Object.keys(state.slots).sort();
  const expected = [...SLOTS[settings.kind]].sort();
  if (names.join(',') !== expected.join(',')) {
    throw new Error(
      `optimizer state has slots [${names.join(', ')}], ${settings.kind} needs [${expected.join(', ')}]`,
    );
  }
  for (const [name, values] of Object.entries(state.slots)) {
    if (values.length !== size)
      throw new Error(`optimizer slot ${name} has ${values.length} values, expected ${size}`);
  }
}

/** Creates an optimizer for `size` parameters, fresh or restored from a checkpointed state. */
export function createOptimizer(
  settings: OptimizerSettings,
  size: number,
  state?: OptimizerState,
): FlatOptimizer {
  return new LoopOptimizer(settings, size, state);
}

/** Slot names of an optimizer kind, in the order checkpoints store them. */
export function optimizerSlots(kind: OptimizerSettings['kind']): readonly string[] {
  return SLOTS[kind];
}
