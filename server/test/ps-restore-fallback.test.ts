/**
 * A restore that falls back to an older committed checkpoint. A coordinator keeps its
 * job on two ps tasks (in process, port 0, a data dir each) and commits two cuts, at
 * steps 3 and 5. Task 1's part of the newer one is damaged on its disk; the tasks and the
 * coordinator restart: the job resumes from the cut at step 3, bit for bit, and its
 * `resumedFrom` names the checkpoint passed over and the task's code. Then task 0's part
 * of that one goes missing too: with no committed checkpoint intact, the next restart
 * fails the job with the part's code. Without the fallback, the first restart failed
 * the job although an intact checkpoint was there.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { Placement } from '../../shared/placement.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { useChiefOverTasks } from '../../test-support/chief-over-tasks.js';
import { connectPsWorker } from '../../test-support/ps-clients.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { TicketSigner } from '../cluster/tickets.js';
import type { Job } from '../jobs/job.js';
import type { ParameterService } from '../params/parameter-service.js';

const TOKEN = 'ps-restore-fallback-cluster-token-0123456789';
const { root, tasks, sockets, chief, restartTasks, stop } = useChiefOverTasks('ps-fallback', TOKEN);
const dataDir = join(root, 'chief');
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const partsOf = (task: number, jobId: string) => {
  const dir = join(root, `task-${task}`, 'ps-parts', jobId, `task-${task}`);
  return readdirSync(dir).filter((n) => n.endsWith('.part')).sort().map((n) => join(dir, n));
};

/** `n` seeded pushes by worker w-1 to both tasks, each credited at the chief with both receipts (the global step moves). */
async function pushAndCredit(job: Job, placement: Placement, seed: number, n: number): Promise<void> {
  const signer = new TicketSigner(deriveClusterKeys(TOKEN), () => Date.now());
  const ws = await Promise.all([0, 1].map((t) => connectPsWorker(tasks[t]!.url)));
  sockets.push(...ws);
  for (let k = 0; k < n; k++) {
    const psReceipts = [];
    for (const task of [0, 1]) {
      const ticket = signer.sign({ worker: 'w-1', job: job.id, task });
      const rand = seededRandom(seed * 100 + k * 10 + task);
      const grads = encodeTensors(placement.byTask[task]!.map((s) => ({ name: s.name, shape: s.shape, values: Float32Array.from({ length: s.length }, () => (rand() - 0.5) * 0.1) })));
      const pulled = await ws[task]!.emitWithAck('params:pull', { ticket, jobId: job.id });
      if (!pulled.ok) throw new Error(pulled.message);
      const r = await ws[task]!.emitWithAck('grads:push', { ticket, jobId: job.id, baseVersion: pulled.version, ...grads });
      if (!r.ok) throw new Error(r.message);
      psReceipts.push({ task, version: r.version, receipt: r.receipt });
    }
    // What the chief's lease accounting does with a worker's notice, without the lease: the step moves.
    const credited = await (job.parameters as ParameterService).push('w-1', { baseVersion: 0, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts });
    if (!credited.ok) throw new Error(credited.message);
  }
}

it('falls back to the older committed cut when a part of the newest is refused, and fails with the code when none is intact', async () => {
  const first = chief(1);
  const created = await first.createJob({ model: 'mlp', normBound: 0, directionThreshold: null, checkpointSeconds: 3600, evalIntervalSeconds: 3600 });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const placement = Placement.of(job.parameters.specs, { tasks: 2, partitionBytes: 1 << 20 });
  await pushAndCredit(job, placement, 1, 3);
  await job.checkpointIfChanged();
  const atThree = (await job.parameters.values()).values.map(bits);
  await pushAndCredit(job, placement, 2, 2);
  await job.checkpointIfChanged();
  expect(job.version).toBe(5);
  expect(readdirSync(join(dataDir, 'checkpoints', job.id)).filter((n) => n.endsWith('.dpck'))).toHaveLength(2);
  await stop(first);

  // One bit of task 1's part of the newer cut flips on its disk.
  const newest = partsOf(1, job.id).at(-1)!;
  const damaged = readFileSync(newest);
  damaged[damaged.length - 64] = damaged[damaged.length - 64]! ^ 0x01;
  writeFileSync(newest, damaged);
  await restartTasks();

  const second = chief(2);
  const [resumed] = await second.restore();
  expect(resumed).toMatchObject({ id: job.id, state: 'running', version: 3, resumedFrom: { version: 3 } });
  expect(resumed!.resumedFrom!.passedOver).toEqual([expect.stringMatching(/^ckpt-.*: its part on ps task 1: CHECKPOINT_PART_CORRUPT/)]);
  expect((await resumed!.parameters.values()).values.map(bits)).toEqual(atThree);
  await stop(second);

  // Task 0's part of the step-3 cut is gone as well: no committed checkpoint is intact.
  for (const p of partsOf(0, job.id)) rmSync(p);
  await restartTasks();
  const third = chief(3);
  const [failed] = await third.restore();
  expect(failed?.state).toBe('failed');
  expect(failed?.failure).toMatch(/could not be loaded: ps task 0: CHECKPOINT_PART_MISSING.*no older committed checkpoint is intact/);
  await stop(third);
}, 120_000);
