import { expect, it } from 'vitest';
import { parseJobSpec, type JobSpec } from '../../shared/job-spec.js';
import { describeMode, describeRounds } from './mode-facts.js';

const spec = (input: object): JobSpec => {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};

it('counts a split job\'s round members and backups in replicas, a data-parallel job\'s in workers', () => {
  const split = spec({ model: 'mlp', stages: 2, mode: 'local', localSteps: 8, backupWorkers: 1 });
  expect(describeMode(split)).toBe('local (DiLoCo): 8 local steps, outer Nesterov lr 0.7, momentum 0.9, 1 backup replica, mean of the round');
  expect(describeRounds(split, { closed: 1234, timedOut: 2, members: ['r1', 'r3'] })).toBe('1,234 closed (2 by their deadline); a round waits for 2 replicas: r1, r3');
  const dp = spec({ model: 'mlp', mode: 'sync' });
  expect(describeMode(dp)).toBe('sync, 0 backup workers, mean of the round');
  expect(describeRounds(dp, { closed: 5, timedOut: 0, members: ['w-a', 'w-b', 'w-c'] })).toBe('5 closed (0 by their deadline); a round waits for 3 workers');
});

it('says so when a round would wait for nobody', () => {
  expect(describeRounds(spec({ model: 'mlp', stages: 2, mode: 'sync' }), { closed: 0, timedOut: 0, members: [] })).toBe('0 closed (0 by their deadline); a round waits for no replica now (none is training)');
});
