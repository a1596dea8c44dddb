import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { patchWasmMatMul } from './wasm-matmul';
import { registerWasmSegmentSum } from './wasm-segment-sum';

/** TensorFlow.js backends we use, fastest first. `tensorflow` is the tfjs-node one. */
export const BackendName = { TensorFlow: 'tensorflow', Wasm: 'wasm', Cpu: 'cpu' } as const;
export type BackendName = (typeof BackendName)[keyof typeof BackendName];

/** The part of a logger backend selection needs (a Nest logger or console fits). */
export interface BackendLog {
  log(message: string): void;
  warn(message: string): void;
}

export interface SelectBackendOptions {
  /** Use exactly this backend (e.g. from the app's config); fails when it cannot start. */
  force?: BackendName;
  /** Re-register the WASM matmul kernels with explicit transposes (default true). */
  patchWasmMatMul?: boolean;
  /** Where to resolve optional packages from (tests point it at a folder without tfjs-node). */
  resolveFrom?: string;
}

const here = createRequire(__filename);

function tryLoadTfjsNode(resolveFrom: string | undefined): boolean {
  const load = resolveFrom ? createRequire(resolveFrom) : here;
  try {
    load('@tensorflow/tfjs-node');
    return tf.engine().findBackendFactory(BackendName.TensorFlow) != null;
  } catch {
    return false;
  }
}

/** Folder of the WASM binaries inside the installed package (bundlers do not copy them). */
export function wasmBinaryDirectory(): string {
  return `${dirname(here.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`;
}

async function trySetBackend(name: BackendName): Promise<boolean> {
  try {
    // setBackend resolves to false (it does not throw) when the backend fails to initialize.
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function startWasm(patch: boolean): Promise<boolean> {
  setWasmPaths(wasmBinaryDirectory());
  if (patch) patchWasmMatMul();
  registerWasmSegmentSum();
  return trySetBackend(BackendName.Wasm);
}

/**
 * Picks the fastest TensorFlow.js backend present: tfjs-node when installed, else WASM (with the
 * transposed-matmul fix), else the pure-JS CPU backend. Logs and returns the one that runs.
 */
export async function selectBackend(
  log: BackendLog,
  options: SelectBackendOptions = {},
): Promise<BackendName> {
  const patch = options.patchWasmMatMul ?? true;
  const attempts: Record<BackendName, () => Promise<boolean>> = {
    tensorflow: async () =>
      tryLoadTfjsNode(options.resolveFrom) && trySetBackend(BackendName.TensorFlow),
    wasm: () => startWasm(patch),
    cpu: () => trySetBackend(BackendName.Cpu),
  };
  const order: BackendName[] = options.force ? [options.force] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    if (await attempts[name]()) {
      await tf.ready();
      const detail = name === 'wasm' ? ` (matmul fix ${patch ? 'on' : 'off'})` : '';
      log.log(`TensorFlow.js backend: ${name}${detail}`);
      return name;
    }
    if (options.force) break;
    log.warn(`TensorFlow.js backend ${name} is not available, trying the next one`);
  }
  throw new Error(`TensorFlow.js backend ${options.force ?? 'cpu'} could not be started`);
}
