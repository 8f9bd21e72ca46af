/**
 * A coordinator's close() checkpoints the final version of every job, even when an
 * interval checkpoint of an older version is being written at that moment (close()
 * used to be handed that in-flight write and return with the older version on disk).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { sizeOf } from '../../shared/tensors.js';
import { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { joinAssigned, leaseShard, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running | null = null;
const sockets: TestWorker[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

it('writes the final version at close although an older checkpoint is in flight', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-shutdown-'));
  const r = await startCoordinator({ model: 'mlp' }, { clock: new ManualClock(), dataDir });
  const { w, job } = await joinAssigned(r.url, sockets, 'vitest-shutdown');
  const payload = () => encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  const { leaseId } = await leaseShard(w, job.jobId);
  expect(await w.emitWithAck('grads:push', { jobId: job.jobId, leaseId, baseVersion: 0, batches: 1, loss: 2.3, ...payload() })).toMatchObject({ ok: true, version: 1 });

  const inFlight = r.job.checkpointIfChanged(); // version 1, not yet on disk
  const second = w.emitWithAck('grads:push', { jobId: job.jobId, leaseId, baseVersion: 1, batches: 1, loss: 2.3, ...payload() });
  expect(await second).toMatchObject({ ok: true, version: 2 });
  await r.close();
  run = null;
  await inFlight;

  const latest = await new CheckpointStore(join(dataDir, 'checkpoints')).latestValid(r.job.id);
  expect(latest?.store.version).toBe(2);
});
