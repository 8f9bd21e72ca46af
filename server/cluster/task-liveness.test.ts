/**
 * TaskLiveness on a manual clock: a task down with the first reason given, asked again
 * every probeMs while its socket stays connected, up once it answers, and a task given
 * up stays down whatever its socket does.
 */
import { expect, it } from 'vitest';
import { ManualClock } from '../../test-support/manual-clock.js';
import { TaskLiveness, type TaskChange } from './task-liveness.js';

function setup() {
  const clock = new ManualClock();
  const answers: boolean[] = [];
  const probes: number[] = [];
  const connected = [true, true];
  const liveness = new TaskLiveness({
    tasks: 2,
    clock,
    probeMs: 1000,
    probe: (task) => {
      probes.push(task);
      return Promise.resolve(answers.shift() ?? false);
    },
    connected: (task) => connected[task]!,
  });
  const changes: TaskChange[] = [];
  liveness.watch((c) => changes.push(c));
  return { clock, answers, probes, connected, liveness, changes };
}

const settle = () => new Promise((r) => setImmediate(r));

it('a task that stops answering on a connected socket is asked every probeMs until it answers', async () => {
  const { clock, answers, probes, liveness, changes } = setup();
  liveness.down(1, 'ps task 1 did not answer');
  liveness.down(1, 'a later reason');
  expect(liveness.reason(1)).toBe('ps task 1 did not answer');
  expect(changes).toEqual([{ task: 1, up: false, reason: 'ps task 1 did not answer' }]);
  expect(probes).toEqual([]);
  clock.advance(1000);
  await settle();
  expect(probes).toEqual([1]);
  expect(liveness.reason(1)).not.toBeNull();
  answers.push(true);
  clock.advance(1000);
  await settle();
  expect(probes).toEqual([1, 1]);
  expect(liveness.reason(1)).toBeNull();
  expect(changes.at(-1)).toEqual({ task: 1, up: true });
  clock.advance(5000);
  await settle();
  expect(probes).toHaveLength(2);
});

it('a task whose socket dropped is asked when it reconnects, not on the clock', async () => {
  const { clock, answers, probes, connected, liveness, changes } = setup();
  connected[0] = false;
  liveness.down(0, 'ps task 0 is unreachable (transport close)');
  clock.advance(10_000);
  await settle();
  expect(probes).toEqual([]);
  connected[0] = true;
  answers.push(true);
  liveness.connected(0);
  await settle();
  expect(probes).toEqual([0]);
  expect(changes.map((c) => c.up)).toEqual([false, true]);
  // A connect while up (the first one) asks nothing.
  liveness.connected(1);
  await settle();
  expect(probes).toEqual([0]);
});

it('a task given up stays down', async () => {
  const { clock, answers, probes, liveness, changes } = setup();
  liveness.down(0, 'ps task 0 did not answer');
  liveness.gone(0, 'ps task 0 exited 5 times within a minute');
  answers.push(true, true);
  liveness.connected(0);
  clock.advance(5000);
  await settle();
  expect(probes).toEqual([]);
  expect(liveness.reason(0)).toBe('ps task 0 exited 5 times within a minute');
  expect(changes.at(-1)).toEqual({ task: 0, up: false, reason: 'ps task 0 exited 5 times within a minute' });
});
