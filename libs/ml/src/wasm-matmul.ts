import * as tf from '@tensorflow/tfjs';

/**
 * The stock WASM backend multiplies 8-10x slower when `transposeA`/`transposeB` is set than on an
 * explicit transpose followed by a plain multiply, and autodiff's backward pass sets those flags
 * (see shared/PERFORMANCE.md). These wrappers transpose first and call the original kernel with
 * both flags off. Same arithmetic, so gradients stay equal to the CPU backend's.
 */
const PATCHED_KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;

type KernelArgs = Parameters<tf.KernelFunc>[0];
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
}

const originals = new Map<string, tf.KernelConfig>();

function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, axis) => axis);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function wrap(original: tf.KernelConfig): tf.KernelFunc {
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!transposeKernel) throw new Error('the WASM backend has no Transpose kernel');
  const transpose = transposeKernel.kernelFunc;
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const transposeA = attrs?.['transposeA'] === true;
    const transposeB = attrs?.['transposeB'] === true;
    if (!transposeA && !transposeB) return original.kernelFunc(args);
    const temporaries: tf.TensorInfo[] = [];
    const explicit = (x: tf.TensorInfo | undefined, flag: boolean): tf.TensorInfo | undefined => {
      if (!flag || x === undefined) return x;
      const out = transpose({
        inputs: { x },
        backend,
        attrs: { perm: lastTwoSwapped(x.shape.length) },
      }) as tf.TensorInfo;
      temporaries.push(out);
      return out;
    };
    const a = explicit(inputs['a'], transposeA);
    const b = explicit(inputs['b'], transposeB);
    try {
      return original.kernelFunc({
        inputs: { ...inputs, ...(a ? { a } : {}), ...(b ? { b } : {}) },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const info of temporaries)
        (backend as unknown as WasmBackendLike).disposeData(info.dataId);
    }
  };
}

/** Re-registers the WASM matmul kernels with explicit transposes. Idempotent; true when applied. */
export function patchWasmMatMul(): boolean {
  if (originals.size > 0) return true;
  for (const name of PATCHED_KERNELS) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) return false;
    originals.set(name, original);
  }
  for (const name of PATCHED_KERNELS) {
    const original = originals.get(name) as tf.KernelConfig;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: wrap(original) });
  }
  return true;
}

/** Restores the stock kernels (for benchmarks that compare before and after). */
export function unpatchWasmMatMul(): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  originals.clear();
}

export function isWasmMatMulPatched(): boolean {
  return originals.size > 0;
}
