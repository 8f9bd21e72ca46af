/**
 * CloseGate keeps replica-step closes and checkpoint cuts apart: a cut waits for the
 * closes in flight, a close waits for a cut in progress, and a cut that is waiting lets
 * no new close start (so a stream of closes cannot starve it). The end-to-end check (a
 * cut asked while a close is being retried holds the whole step) is in
 * server/test/ps-step-retry.test.ts.
 */
import { expect, it } from 'vitest';
import { CloseGate } from './close-gate.js';

/** A task the test ends when it says. */
function pending(): { promise: Promise<void>; end: () => void } {
  let end!: () => void;
  const promise = new Promise<void>((resolve) => (end = resolve));
  return { promise, end };
}
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

it('a cut waits for the closes in flight; a close asked meanwhile waits for the cut; order: close, cut, close', async () => {
  const gate = new CloseGate();
  const log: string[] = [];
  const first = pending();
  const closing = gate.close(async () => (log.push('close 1 starts'), await first.promise, log.push('close 1 ends')));
  const cut = pending();
  const cutting = gate.cut(async () => (log.push('cut starts'), await cut.promise, log.push('cut ends'), 'manifest'));
  const later = gate.close(async () => log.push('close 2 starts'));
  await turns();
  expect(log).toEqual(['close 1 starts']);
  first.end();
  await closing;
  await turns();
  expect(log).toEqual(['close 1 starts', 'close 1 ends', 'cut starts']);
  cut.end();
  expect(await cutting).toBe('manifest');
  await later;
  expect(log).toEqual(['close 1 starts', 'close 1 ends', 'cut starts', 'cut ends', 'close 2 starts']);
});

it('a cut that fails lets the closes go on; two cuts run one after the other', async () => {
  const gate = new CloseGate();
  await expect(gate.cut(async () => Promise.reject(new Error('a task refused')))).rejects.toThrow('a task refused');
  expect(await gate.close(async () => 'closed')).toBe('closed');
  const log: string[] = [];
  const one = pending();
  const a = gate.cut(async () => (log.push('a starts'), await one.promise, log.push('a ends')));
  const b = gate.cut(async () => log.push('b starts'));
  await turns();
  expect(log).toEqual(['a starts']);
  one.end();
  await Promise.all([a, b]);
  expect(log).toEqual(['a starts', 'a ends', 'b starts']);
});
