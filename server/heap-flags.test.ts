/**
 * `npm start` and `npm run bench` run node with the heap flags of HEAP_NODE_FLAGS (the
 * bench's coordinator is in its own process: it must run as production's does).
 */
import { expect, it } from 'vitest';
import { nodeFlagsOfScript } from '../test-support/npm-scripts.js';
import { HEAP_NODE_FLAGS } from './heap-flags.js';

it.each([
  ['start', 'server/main.ts'],
  ['bench', 'bench/main.ts'],
])('package.json\'s "%s" script passes node every flag of HEAP_NODE_FLAGS before %s', (script, entryPoint) => {
  const flags = nodeFlagsOfScript(script, entryPoint);
  expect(flags).not.toBeNull();
  expect(HEAP_NODE_FLAGS.length).toBeGreaterThan(0);
  for (const flag of HEAP_NODE_FLAGS) expect(flags).toContain(flag);
});
