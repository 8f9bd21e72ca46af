/**
 * `npm start` and `npm run bench` run node with the heap flags of HEAP_NODE_FLAGS (the
 * bench's coordinator is in its own process: it must run as production's does).
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { HEAP_NODE_FLAGS } from './heap-flags.js';

const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;

it.each([
  ['start', 'server/main.ts'],
  ['bench', 'bench/main.ts'],
])('package.json\'s "%s" script passes node every flag of HEAP_NODE_FLAGS before %s', (script, entryPoint) => {
  const words = scripts[script]!.split(/\s+/);
  const entry = words.indexOf(entryPoint);
  expect(words.slice(0, 2)).toEqual(['exec', 'node']);
  expect(entry).toBeGreaterThan(1);
  expect(HEAP_NODE_FLAGS.length).toBeGreaterThan(0);
  for (const flag of HEAP_NODE_FLAGS) expect(words.slice(2, entry)).toContain(flag);
});
