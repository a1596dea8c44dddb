import { ValidationError } from '@dln/contracts';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FromParser, parserError, ToParser } from './parse-protocol';
import { OffloadedEncoder } from './predictor';
import { Verb } from './request';
import { EncodedBatch, EncodingSpec } from './request-encoder';

// From TypeScript sources (tests), the worker compiles its modules with SWC as tools/build.mjs does.
const SOURCE_BOOTSTRAP = `
const fs = require('node:fs'); const path = require('node:path'); const Module = require('node:module');
const { root, entry } = require('node:worker_threads').workerData;
const load = Module.createRequire(path.join(root, 'package.json'));
const swc = load('@swc/core');
const paths = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.base.json'), 'utf8')).compilerOptions.paths;
const aliases = Object.fromEntries(Object.entries(paths).map(([name, [target]]) => [name, path.join(root, target)]));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) { return resolveFilename.call(this, aliases[request] ?? request, ...rest); };
const options = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8')); delete options.$schema;
Module._extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), { ...options, swcrc: false, filename, sourceMaps: false });
  module._compile(code, filename);
};
load(entry);
`;

function workspaceRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'tsconfig.base.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no workspace root above ${from}`);
    dir = up;
  }
  return dir;
}

function startWorker(): Worker {
  const compiled = join(__dirname, 'parse-worker.js');
  if (existsSync(compiled)) return new Worker(compiled);
  const entry = resolve(__dirname, 'parse-worker.ts');
  return new Worker(SOURCE_BOOTSTRAP, {
    eval: true,
    workerData: { root: workspaceRoot(__dirname), entry },
  });
}

interface Waiting {
  resolve: (batch: EncodedBatch) => void;
  reject: (error: unknown) => void;
}

/**
 * Bytes of a body in an ArrayBuffer of their own, so they can be transferred. A Node Buffer is
 * often a view into a larger shared buffer (a socket read, the allocation pool) and its slice()
 * is another view: copy, never detach memory others still use.
 */
function ownBuffer(body: Uint8Array): Uint8Array {
  const whole =
    body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && !Buffer.isBuffer(body);
  return whole ? body : new Uint8Array(body);
}

/**
 * Worker threads that parse, validate and encode large request bodies (PERFORMANCE.md: parsing
 * a 256-record body costs more than the model). Each worker holds every loaded version's
 * encoder; requests go to the worker with the fewest outstanding.
 */
export class ParsePool implements OffloadedEncoder {
  private readonly workers: { worker: Worker; pending: Map<number, Waiting> }[] = [];
  private readonly specs = new Map<string, EncodingSpec>();
  private nextId = 1;

  constructor(size: number) {
    for (let i = 0; i < size; i += 1) {
      const worker = startWorker();
      const pending = new Map<number, Waiting>();
      worker.on('message', (answer: FromParser) => {
        const waiting = pending.get(answer.id);
        if (!waiting) return;
        pending.delete(answer.id);
        if (answer.ok) waiting.resolve(answer.batch);
        else waiting.reject(parserError(answer.error));
      });
      worker.on('error', (error) => {
        for (const waiting of pending.values()) waiting.reject(error);
        pending.clear();
      });
      worker.unref();
      this.workers.push({ worker, pending });
    }
  }

  static key(model: string, version: number): string {
    return `${model}/${version}`;
  }

  /** Makes a version's encoder known to every worker (before its first request). */
  register(model: string, version: number, spec: EncodingSpec): void {
    const key = ParsePool.key(model, version);
    this.specs.set(key, spec);
    this.broadcast({ type: 'spec', key, spec });
  }

  drop(model: string, version: number): void {
    const key = ParsePool.key(model, version);
    this.specs.delete(key);
    this.broadcast({ type: 'drop', key });
  }

  encode(model: string, version: number, body: Uint8Array, verb: Verb): Promise<EncodedBatch> {
    const key = ParsePool.key(model, version);
    const target = this.workers.reduce((best, w) =>
      w.pending.size < best.pending.size ? w : best,
    );
    const id = this.nextId++;
    if (body.byteLength === 0)
      return Promise.reject(new ValidationError('the request body is empty: send a JSON object'));
    const bytes = ownBuffer(body);
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      const message: ToParser = { type: 'encode', id, key, verb, body: bytes };
      try {
        target.worker.postMessage(message, [bytes.buffer as ArrayBuffer]);
      } catch (error) {
        target.pending.delete(id);
        reject(error);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private broadcast(message: ToParser): void {
    for (const { worker } of this.workers) worker.postMessage(message);
  }
}
