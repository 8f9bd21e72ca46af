/**
 * The worker socket's rate limit refills on the coordinator's clock: while a
 * ManualClock stands still exactly the burst is served, however slowly the machine
 * handles the flood, and one second of clock time refills messagesPerSecond.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { connectTestWorker, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const clock = new ManualClock();
let run: Running;
let flooder: TestWorker | null = null;
beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { clock, workerGuard: { messagesPerSecond: 10, burst: 20 } });
});
afterAll(async () => {
  flooder?.disconnect();
  await run?.close();
});

/** Sends `n` cheap messages at once (a completion before hello, refused NOT_REGISTERED once past the limit); counts the answers. */
async function flood(w: TestWorker, n: number): Promise<{ served: number; limited: number }> {
  const answers = await Promise.all(Array.from({ length: n }, () => w.emitWithAck('shard:complete', { jobId: run.job.id, leaseId: 'L0' })));
  const codes = answers.map((a) => (a.ok ? 'ok' : a.code));
  return { served: codes.filter((c) => c === ErrorCode.NOT_REGISTERED).length, limited: codes.filter((c) => c === ErrorCode.RATE_LIMITED).length };
}

it('serves the burst while time stands still and messagesPerSecond more after a second', async () => {
  flooder = await connectTestWorker(run.url);
  expect(await flood(flooder, 30)).toEqual({ served: 20, limited: 10 });
  clock.advance(1000);
  expect(await flood(flooder, 15)).toEqual({ served: 10, limited: 5 });
});
