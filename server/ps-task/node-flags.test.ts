/**
 * `npm run ps` starts a task with the same Node flags as `npm start -- --ps N` forks it
 * with (PS_TASK_NODE_FLAGS; server/test/ps-start.test.ts sees them on the forked tasks).
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PS_TASK_NODE_FLAGS } from './node-flags.js';

it('package.json\'s "ps" script passes node every flag of PS_TASK_NODE_FLAGS, before the task\'s entry point', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.ps!.split(/\s+/);
  const entry = words.indexOf('server/ps-task/main.ts');
  expect(words.slice(0, 2)).toEqual(['exec', 'node']);
  expect(entry).toBeGreaterThan(1);
  expect(PS_TASK_NODE_FLAGS.length).toBeGreaterThan(0);
  for (const flag of PS_TASK_NODE_FLAGS) expect(words.slice(2, entry)).toContain(flag);
});
