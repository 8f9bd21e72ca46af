/**
 * A coordinator keeping its job on two ps tasks (in process, port 0, each with its own
 * data directory) checkpoints it as a cut, and a coordinator restarted on the same data
 * dir over tasks that restarted too (they hold no slices, only their parts on disk;
 * live tasks would be adopted instead, ps-recovery.test.ts) resumes the job from the
 * committed manifest (server/jobs/job-resume.ts): every task loads its part, and the
 * parameters are the checkpoint's bit for bit although the tasks moved on after it. A part damaged on a task's disk fails the job at the next
 * restart with the task's code, and the job writes no checkpoint over it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { Placement } from '../../shared/placement.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { useChiefOverTasks } from '../../test-support/chief-over-tasks.js';
import { connectPsWorker } from '../../test-support/ps-clients.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { TicketSigner } from '../cluster/tickets.js';

const TOKEN = 'ps-checkpoint-resume-cluster-token-0123456789';
const { root, tasks, sockets, chief, restartTasks, stop } = useChiefOverTasks('ps-resume', TOKEN);
const dataDir = join(root, 'chief');
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** `n` seeded pushes straight to every task holding slices of `jobId`, as an assigned worker sends them. */
async function pushToTasks(placement: Placement, jobId: string, seed: number, n: number): Promise<void> {
  const signer = new TicketSigner(deriveClusterKeys(TOKEN), () => Date.now());
  for (const task of [0, 1]) {
    const ws = await connectPsWorker(tasks[task]!.url);
    sockets.push(ws);
    const ticket = signer.sign({ worker: 'w-1', job: jobId, task });
    const slices = placement.byTask[task]!;
    for (let k = 0; k < n; k++) {
      const rand = seededRandom(seed * 100 + k);
      const grads = encodeTensors(slices.map((s) => ({ name: s.name, shape: s.shape, values: Float32Array.from({ length: s.length }, () => (rand() - 0.5) * 0.1) })));
      const pulled = await ws.emitWithAck('params:pull', { ticket, jobId });
      if (!pulled.ok) throw new Error(pulled.message);
      const r = await ws.emitWithAck('grads:push', { ticket, jobId, baseVersion: pulled.version, ...grads });
      if (!r.ok) throw new Error(r.message);
    }
  }
}

it('resumes a job on ps tasks from its committed cut, bit for bit, and fails it cleanly when a part is damaged', async () => {
  const first = chief(1);
  const created = await first.createJob({ model: 'mlp', normBound: 0, directionThreshold: null, checkpointSeconds: 3600, evalIntervalSeconds: 3600 });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const placement = Placement.of(job.parameters.specs, { tasks: 2, partitionBytes: 1 << 20 });
  await pushToTasks(placement, job.id, 1, 3);
  await job.checkpointIfChanged();
  const checkpointed = await job.parameters.values();
  // The tasks move on after the cut; the chief's step did not move, so its stop writes no newer checkpoint.
  await pushToTasks(placement, job.id, 2, 2);
  expect((await job.parameters.values()).values.map(bits)).not.toEqual(checkpointed.values.map(bits));
  await stop(first);
  await restartTasks();

  const second = chief(2);
  const [resumed] = await second.restore();
  expect(resumed).toMatchObject({ id: job.id, state: 'running', resumedFrom: { version: 0 } });
  expect((await resumed!.parameters.values()).values.map(bits)).toEqual(checkpointed.values.map(bits));
  await stop(second);

  // One bit of task 0's part flips on its disk: the next restart fails the job with the task's code.
  const partDir = join(root, 'task-0', 'ps-parts', job.id, 'task-0');
  const [part] = readdirSync(partDir).filter((n) => n.endsWith('.part'));
  const file = join(partDir, part!);
  const damaged = readFileSync(file);
  damaged[damaged.length - 64] = damaged[damaged.length - 64]! ^ 0x01;
  writeFileSync(file, damaged);
  const checkpointsBefore = readdirSync(join(dataDir, 'checkpoints', job.id));
  await restartTasks();
  const third = chief(3);
  const [failed] = await third.restore();
  expect(failed?.state).toBe('failed');
  expect(failed?.failure).toMatch(/could not be loaded: ps task 0: CHECKPOINT_PART_CORRUPT/);
  await stop(third);
  expect(readdirSync(join(dataDir, 'checkpoints', job.id))).toEqual(checkpointsBefore);
});
