/**
 * Every worker event sent with a callback is answered, whatever comes before the
 * callback: nothing (the callback alone), or arguments beyond the payload. Each event
 * the namespace knows (WORKER_EVENTS, checked against ClientToServerEvents at compile
 * time) is tried, before and after worker:hello.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { WORKER_EVENTS } from '../worker/worker-namespace.js';
import { connectTestWorker, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
const sockets: TestWorker[] = [];
beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' });
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

type Untyped = { timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> } };
const send = (w: TestWorker, event: string, ...args: unknown[]) => (w as unknown as Untyped).timeout(5000).emitWithAck(event, ...args);

async function socket(hello: boolean): Promise<TestWorker> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  if (hello) expect(await w.emitWithAck('worker:hello', { userAgent: 'vitest-acks' })).toMatchObject({ ok: true });
  return w;
}

describe('an event with a callback always gets its answer', () => {
  it('lists twelve worker events', () => {
    expect([...WORKER_EVENTS].sort()).toEqual(['grads:push', 'grads:slot', 'params:pull', 'peer:answer', 'peer:ice', 'peer:offer', 'relay:frame', 'replica:report', 'shard:complete', 'shard:lease', 'worker:hello', 'worker:report']);
  });

  for (const hello of [false, true]) {
    it(`the callback alone: a coded BAD_REQUEST for every event (${hello ? 'after' : 'before'} worker:hello)`, async () => {
      const w = await socket(hello);
      for (const event of WORKER_EVENTS) {
        expect(await send(w, event), event).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.any(String) });
      }
      expect(w.connected).toBe(true);
    });
  }

  it('arguments beyond the payload: the payload is answered as if sent alone', async () => {
    const w = await socket(false);
    const hello = (await send(w, 'worker:hello', { userAgent: 'vitest-acks' }, 'extra', 42)) as { ok: boolean; job: { jobId: string } };
    expect(hello).toMatchObject({ ok: true, job: { jobId: run.job.id } });
    expect(await send(w, 'worker:report', { backend: 'cpu', adapter: null, examplesPerSecond: 5 }, null)).toEqual({ ok: true });
    expect(await send(w, 'params:pull', { jobId: run.job.id }, { have: 'ignored' })).toMatchObject({ ok: true, version: 0 });
    expect(await send(w, 'shard:complete', { jobId: run.job.id, leaseId: 'L999' }, 'extra')).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_LEASE });
  });
});
