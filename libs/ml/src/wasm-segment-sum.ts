import * as tf from '@tensorflow/tfjs';

/**
 * The stock WASM backend has no `UnsortedSegmentSum`, which autodiff needs for the gradient of
 * `gather` (every embedding lookup). This registers a plain-JS implementation on the WASM
 * backend's memory: sum the rows of `x` into their segment, in input order, as the CPU backend
 * does, so gradients stay equal to the CPU backend's.
 */
const KERNEL = 'UnsortedSegmentSum';

interface WasmMemory {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

function segmentSum({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs['x'];
  const segmentIds = inputs['segmentIds'];
  const numSegments = Number(attrs?.['numSegments']);
  if (!x || !segmentIds || !Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`${KERNEL}: needs x, segmentIds and a non-negative integer numSegments`);
  }
  const memory = backend as unknown as WasmMemory;
  const values = memory.readSync(x.dataId);
  const ids = memory.readSync(segmentIds.dataId);
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rowSize = rows === 0 ? 0 : values.length / rows;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = memory.makeOutput(outShape, x.dtype);
  const sums = memory.typedArrayFromHeap(out);
  sums.fill(0);
  for (let row = 0; row < rows; row += 1) {
    const segment = ids[row]!;
    if (segment < 0 || segment >= numSegments) continue;
    const from = row * rowSize;
    const to = segment * rowSize;
    for (let k = 0; k < rowSize; k += 1) sums[to + k]! += values[from + k]!;
  }
  return out;
}

/** Registers the kernel on WASM when the backend lacks it. Idempotent; true when present after. */
export function registerWasmSegmentSum(): boolean {
  if (tf.getKernel(KERNEL, 'wasm')) return true;
  tf.registerKernel({ kernelName: KERNEL, backendName: 'wasm', kernelFunc: segmentSum });
  return true;
}
