// Compiles every app, lib, tool and bench source (specs excluded) into dist/ with SWC, keeping
// the tree's layout so that the tsconfig path aliases become plain relative requires.
// Type checking is `npm run typecheck`; this step only transpiles, so it takes seconds.
import { transformFile } from '@swc/core';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const finalDir = join(root, 'dist');
// Built beside dist/ and swapped in at the end, so processes started from dist/ meanwhile never
// see a half-written tree.
const outDir = join(root, `dist.building-${process.pid}`);
const sourceDirs = ['apps', 'libs', 'tools', 'bench'];
const isSpec = (file) => /\.(spec|int-spec|e2e-spec)\.ts$/.test(file) || file.endsWith('.d.ts');

async function* walk(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'fixtures') yield* walk(full);
    } else if (entry.name.endsWith('.ts') && !isSpec(entry.name)) {
      yield full;
    }
  }
}

const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));
const aliases = Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => [
  name,
  join(root, target.replace(/\.ts$/, '')),
]);

function rewriteAliases(code, file) {
  return code.replace(/require\("(@dln\/[a-z-]+)"\)/g, (match, name) => {
    const hit = aliases.find(([alias]) => alias === name);
    if (!hit) throw new Error(`${relative(root, file)}: unknown alias ${name}`);
    let rel = relative(dirname(file), hit[1]);
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `require("${rel}")`;
  });
}

const started = Date.now();
await rm(outDir, { recursive: true, force: true });
const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;
let count = 0;
const jobs = [];
for (const dir of sourceDirs) {
  for await (const file of walk(join(root, dir))) {
    jobs.push(
      (async () => {
        const out = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
        const result = await transformFile(file, {
          ...swcrc,
          swcrc: false,
          filename: file,
          sourceFileName: relative(dirname(out), file),
        });
        await mkdir(dirname(out), { recursive: true });
        await writeFile(
          out,
          rewriteAliases(result.code, file) +
            `\n//# sourceMappingURL=${out.split('/').pop()}.map\n`,
        );
        if (result.map) await writeFile(`${out}.map`, result.map);
        count += 1;
      })(),
    );
  }
}
await Promise.all(jobs);
await writeFile(join(outDir, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n');
const oldDir = join(root, `dist.old-${process.pid}`);
await rename(finalDir, oldDir).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(outDir, finalDir);
await rm(oldDir, { recursive: true, force: true });
console.log(`built ${count} files into dist/ in ${Date.now() - started} ms`);
