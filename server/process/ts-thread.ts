/**
 * Worker threads whose entry may be a TypeScript module: built output runs the `.js`
 * file; a source checkout runs the `.ts` file through tsx. Node 20 does not apply
 * `--import` loaders to worker threads, so the thread registers tsx itself before
 * importing its module.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The ESM entry of tsx's register API, read from its package exports. */
function tsxRegisterUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
}

/** The module `name` beside `caller` (an import.meta.url), with the caller's extension: `.ts` in a source checkout, `.js` when built. */
export function siblingModule(caller: string, name: string): URL {
  const here = new URL(caller);
  return new URL(`./${name}${here.pathname.endsWith('.ts') ? '.ts' : '.js'}`, here);
}

/** Starts a worker thread on `entry`, through tsx when it is a `.ts` module. */
export function startTsThread(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const bootstrap = `import(${JSON.stringify(tsxRegisterUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true });
}
