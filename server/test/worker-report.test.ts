/**
 * worker:report over a real socket: the worker table's backend and speed come from it;
 * a report from a page built when reports still carried numTensors is accepted, and
 * the count is not kept (leaks are caught by tests and the soak bench, not by trusting
 * what volunteers' tabs say about themselves).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectTestWorker, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
let w: TestWorker | null = null;
beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' });
});
afterAll(async () => {
  w?.disconnect();
  await run?.close();
});

it('updates the worker table from a report, and ignores an older page\'s numTensors', async () => {
  w = await connectTestWorker(run.url);
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest-report' });
  if (!hello.ok) throw new Error(hello.message);
  const report = { backend: 'wasm', adapter: null, examplesPerSecond: 12.5, numTensors: 40 };
  (w.emit as (event: string, payload: unknown) => void)('worker:report', report);
  // No ack to a report: the next answered message on the socket means it was handled.
  await w.emitWithAck('worker:hello', { userAgent: 'vitest-report' });
  const record = run.coordinator.workers.get(hello.workerId);
  expect(record).toMatchObject({ backend: 'wasm', adapter: null, examplesPerSecond: 12.5 });
  expect(record).not.toHaveProperty('numTensors');
});
