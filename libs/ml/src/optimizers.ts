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
 * takes ~0.18 ms for 50k parameters where tfjs's optimizers take ~1 ms. The arithmetic follows
 * tfjs's SGD, momentum and Adam optimizers.
 */
export interface FlatOptimizer {
  readonly settings: OptimizerSettings;
  readonly size: number;
  /** Updates `params` in place with `grads` (same length). */
  apply(params: Float32Array, grads: Float32Array): void;
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
    if (params.length !== this.size || grads.length !== this.size) {
      throw new Error(
        `optimizer for ${this.size} values got ${params.length} parameters and ${grads.length} gradients`,
      );
    }
    this.step += 1;
    const s = this.settings;
    const n = this.size;
    if (s.kind === 'sgd') {
      for (let i = 0; i < n; i += 1)
        params[i] = (params[i] as number) - s.learningRate * (grads[i] as number);
    } else if (s.kind === 'momentum') {
      const velocity = this.slots['velocity'] as Float32Array;
      for (let i = 0; i < n; i += 1) {
        const g = grads[i] as number;
        const v = s.momentum * (velocity[i] as number) + g;
        velocity[i] = v;
        const update = s.nesterov
          ? g + s.momentum * (velocity[i] as number)
          : (velocity[i] as number);
        params[i] = (params[i] as number) - s.learningRate * update;
      }
    } else {
      const m = this.slots['m'] as Float32Array;
      const v = this.slots['v'] as Float32Array;
      const correction1 = 1 - s.beta1 ** this.step;
      const correction2 = 1 - s.beta2 ** this.step;
      for (let i = 0; i < n; i += 1) {
        const g = grads[i] as number;
        const mi = s.beta1 * (m[i] as number) + (1 - s.beta1) * g;
        const vi = s.beta2 * (v[i] as number) + (1 - s.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] =
          (params[i] as number) -
          (s.learningRate * (mi / correction1)) / (Math.sqrt(vi / correction2) + s.epsilon);
      }
    }
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
