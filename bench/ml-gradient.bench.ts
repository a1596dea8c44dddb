// Gradient step of the reference MLP (PERFORMANCE.md) on WASM, stock kernels vs the matmul fix,
// plus the flat Adam step of the ps. Run: npm run build && node dist/bench/ml-gradient.bench.js
import * as tf from '@tensorflow/tfjs';
import {
  computeGradients,
  createOptimizer,
  buildModel,
  denseBinarySchema,
  patchWasmMatMul,
  readWeights,
  REFERENCE_MLP,
  selectBackend,
  syntheticBinaryBatch,
  unpatchWasmMatMul,
  writeWeights,
} from '@dln/ml';

const BATCH = 256;
const ROUNDS = 60;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function gradientStepMs(): { ms: number; gradients: Float32Array } {
  const model = buildModel(REFERENCE_MLP, denseBinarySchema(64), 1);
  const batch = syntheticBinaryBatch(BATCH, 64, 2);
  let gradients: Float32Array = new Float32Array(0);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS + 5; i += 1) {
    const start = performance.now();
    gradients = computeGradients(model, batch, { labelKind: 'binary' }).gradients;
    if (i >= 5) times.push(performance.now() - start);
  }
  model.dispose();
  return { ms: median(times), gradients };
}

async function main(): Promise<void> {
  const log = { log: (m: string) => console.log(m), warn: (m: string) => console.warn(m) };
  await selectBackend(log, { force: 'wasm', patchWasmMatMul: false });
  unpatchWasmMatMul();
  const stock = gradientStepMs();
  patchWasmMatMul();
  const patched = gradientStepMs();
  await tf.setBackend('cpu');
  const cpu = gradientStepMs();
  let maxDiff = 0;
  for (let i = 0; i < cpu.gradients.length; i += 1) {
    maxDiff = Math.max(
      maxDiff,
      Math.abs((patched.gradients[i] as number) - (cpu.gradients[i] as number)),
    );
  }
  const size = cpu.gradients.length;
  const adam = createOptimizer(
    { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    size,
  );
  const params = new Float32Array(size);
  const adamTimes: number[] = [];
  for (let i = 0; i < 200; i += 1) {
    const start = performance.now();
    adam.apply(params, cpu.gradients);
    adamTimes.push(performance.now() - start);
  }
  await tf.setBackend('wasm');
  const model = buildModel(REFERENCE_MLP, denseBinarySchema(64), 1);
  const weights = readWeights(model);
  const assignTimes: number[] = [];
  for (let i = 0; i < 100; i += 1) {
    const start = performance.now();
    writeWeights(model, weights);
    assignTimes.push(performance.now() - start);
  }
  model.dispose();
  const result = {
    parameters: size,
    batch: BATCH,
    wasm_stock_grad_ms: +stock.ms.toFixed(2),
    wasm_fixed_grad_ms: +patched.ms.toFixed(2),
    speedup: +(stock.ms / patched.ms).toFixed(2),
    wasm_fixed_ex_per_s: Math.round((BATCH * 1000) / patched.ms),
    cpu_grad_ms: +cpu.ms.toFixed(2),
    max_abs_grad_diff_wasm_vs_cpu: maxDiff,
    flat_adam_ms: +median(adamTimes).toFixed(3),
    write_weights_ms: +median(assignTimes).toFixed(3),
  };
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
