import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

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

/**
 * Starts the worker thread whose entry is `<directory>/<baseName>`: the built .js beside it, or
 * from TypeScript sources (tests). The thread reads `data` as `workerData.data`.
 */
export function startWorkerThread(directory: string, baseName: string, data?: unknown): Worker {
  const compiled = join(directory, `${baseName}.js`);
  if (existsSync(compiled)) return new Worker(compiled, { workerData: { data } });
  const entry = resolve(directory, `${baseName}.ts`);
  return new Worker(SOURCE_BOOTSTRAP, {
    eval: true,
    workerData: { root: workspaceRoot(directory), entry, data },
  });
}
