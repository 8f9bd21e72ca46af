/**
 * `npm run ps` starts a task with the same Node flags as `npm start -- --ps N` forks it
 * with (PS_TASK_NODE_FLAGS; server/test/ps-start.test.ts sees them on the forked tasks).
 */
import { expect, it } from 'vitest';
import { nodeFlagsOfScript } from '../../test-support/npm-scripts.js';
import { PS_TASK_NODE_FLAGS } from './node-flags.js';

it('package.json\'s "ps" script passes node every flag of PS_TASK_NODE_FLAGS, before the task\'s entry point', () => {
  const flags = nodeFlagsOfScript('ps', 'server/ps-task/main.ts');
  expect(flags).not.toBeNull();
  expect(PS_TASK_NODE_FLAGS.length).toBeGreaterThan(0);
  for (const flag of PS_TASK_NODE_FLAGS) expect(flags).toContain(flag);
});
