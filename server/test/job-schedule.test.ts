/**
 * The coordinator's schedules run on its injected clock: a ManualClock stepped to the
 * exact interval ticks the dashboard, writes the job's checkpoint and evaluates it (on
 * the real evaluation thread, with real files and sockets); pausing the job takes its
 * schedules off the clock and resuming puts them back.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { OPERATOR_NAMESPACE, type OperatorServerToClientEvents } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { joinAssigned, leaseShard, MANUAL_CLOCK_START, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'schedule-test-token';
let run: Running | null = null;
let dashboard: Socket<OperatorServerToClientEvents> | null = null;
let sockets: TestWorker[] = [];

afterEach(async () => {
  dashboard?.disconnect();
  dashboard = null;
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
});

it('ticks the dashboard every second, checkpoints every checkpointSeconds and evaluates every evalIntervalSeconds of the clock, only while running', { timeout: 180_000 }, async () => {
  const clock = new ManualClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-schedule-'));
  const r = (run = await startCoordinator({ model: 'mlp', evalIntervalSeconds: 60, checkpointSeconds: 30 }, { clock, dataDir, operatorToken: TOKEN }));
  dashboard = io(r.url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  await waitForEvent(dashboard, 'dashboard:init');
  // The dashboard tick, the volunteer contributions' flush, and the running job's evaluation, checkpoint, lease-sweep and trusted-gradient intervals.
  expect(clock.pending).toBe(6);

  const tick = waitForEvent<{ at: number }>(dashboard, 'dashboard:tick');
  clock.advance(1000);
  expect((await tick).at).toBe(MANUAL_CLOCK_START + 1000);

  const { w, job } = await joinAssigned(r.url, sockets, 'vitest-schedule');
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  const { leaseId } = await leaseShard(w, job.jobId);
  expect(await w.emitWithAck('grads:push', { jobId: job.jobId, leaseId, baseVersion: 0, batches: 1, loss: 2.3, ...payload })).toMatchObject({ ok: true, version: 1 });

  clock.advance(29_000);
  const checkpoints = new CheckpointStore(join(dataDir, 'checkpoints'));
  const latest = async () => {
    const c = await checkpoints.latestValid(r.job.id);
    return c && { version: c.store.version, at: c.at };
  };
  await expect.poll(latest, { timeout: 20_000 }).toEqual({ version: 1, at: MANUAL_CLOCK_START + 30_000 });
  expect(r.job.evals).toEqual([]);

  const evaluated = waitForEvent<{ jobId: string; record: EvalRecord }>(dashboard, 'job:eval', 120_000);
  clock.advance(30_000);
  expect((await evaluated).record).toMatchObject({ version: 1, at: MANUAL_CLOCK_START + 60_000 });

  expect(r.job.control('pause').ok).toBe(true);
  expect(clock.pending).toBe(2); // the dashboard tick and the contributions' flush alone
  expect(r.job.control('resume').ok).toBe(true);
  expect(clock.pending).toBe(6);
});
