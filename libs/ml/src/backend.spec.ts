import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend, wasmBinaryDirectory } from './backend';
import { isWasmMatMulPatched, unpatchWasmMatMul } from './wasm-matmul';

function recorder() {
  const lines: string[] = [];
  return {
    lines,
    log: (m: string) => lines.push(`log ${m}`),
    warn: (m: string) => lines.push(`warn ${m}`),
  };
}

// A folder with no node_modules: tfjs-node cannot resolve from here whatever is installed.
const empty = mkdtempSync(join(tmpdir(), 'dln-ml-backend-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

describe('selectBackend', () => {
  it('honours a forced backend', async () => {
    const log = recorder();
    expect(await selectBackend(log, { force: 'cpu' })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(log.lines).toEqual(['log TensorFlow.js backend: cpu']);
  });

  it('falls back to patched WASM when tfjs-node is missing', async () => {
    const log = recorder();
    expect(await selectBackend(log, { resolveFrom: join(empty, 'x.js') })).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(isWasmMatMulPatched()).toBe(true);
    expect(log.lines).toEqual([
      'warn TensorFlow.js backend tensorflow is not available, trying the next one',
      'log TensorFlow.js backend: wasm (matmul fix on)',
    ]);
    expect(
      tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([2, 3]), false, true).dataSync()[0]),
    ).toBe(3);
  });

  it('can leave the stock kernels alone and finds the WASM binaries in the package', async () => {
    unpatchWasmMatMul();
    expect(await selectBackend(recorder(), { force: 'wasm', patchWasmMatMul: false })).toBe('wasm');
    expect(isWasmMatMulPatched()).toBe(false);
    expect(wasmBinaryDirectory()).toMatch(/tfjs-backend-wasm\/dist\/$/);
  });

  it('fails when a forced backend cannot start', async () => {
    await expect(
      selectBackend(recorder(), { force: 'tensorflow', resolveFrom: join(empty, 'x.js') }),
    ).rejects.toThrow(/backend tensorflow could not be started/);
  });
});
