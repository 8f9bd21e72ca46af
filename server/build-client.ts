/**
 * `npm start` builds the browser client when it is missing or older than its sources,
 * so a fresh clone needs no separate build step.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from './logger.js';

const log = createLogger('build');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['client', 'shared', 'vite.config.ts', 'package-lock.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

export function clientIsStale(root = ROOT): boolean {
  const built = join(root, 'dist', 'client', 'index.html');
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return SOURCES.some((s) => newestMtime(join(root, s)) > builtAt);
}

export async function buildClientIfNeeded(root = ROOT): Promise<void> {
  if (!clientIsStale(root)) return;
  log.info('building the browser client (vite build)…');
  const { build } = await import('vite');
  // The config sets its own root (client/); passing one here would override it.
  await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
  log.info('client built');
}
