/**
 * A coordinator always starts again: restarted on a data dir where one job's newest
 * checkpoint is another model's (what a reused job id left behind), another job has
 * no checkpoint that fits, and a deleted job's folder is still there, it starts; the
 * first job resumes from its older checkpoint that fits, the second is failed with
 * the reason, the others run, and the leftover folder is gone. A real restart: two
 * coordinators, one after the other, over one data dir.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { CheckpointInfo, JobDetail } from '../../shared/operator-protocol.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import { NO_LATE_SLOTS, joinAssigned, LeasedPusher, startCoordinator, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'restore-token';
const sockets: TestWorker[] = [];
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  for (const c of open.splice(0)) await c.close();
});

const api = (url: string, method: string, path: string, body?: unknown) =>
  fetch(url + path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

/** Each worker pushes on its own leases. */
const pushers = new WeakMap<TestWorker, LeasedPusher>();

async function push(w: TestWorker, job: JobAssignment, baseVersion: number): Promise<number> {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  const pusher = pushers.get(w) ?? new LeasedPusher(w, job.jobId);
  pushers.set(w, pusher);
  const r = await pusher.push({ baseVersion, loss: 2, ...payload });
  if (!r.ok) throw new Error(r.message);
  return r.version;
}

const ckpt = (version: number) => `ckpt-${String(version).padStart(12, '0')}.dpck`;

it('starts with one job on an older checkpoint, one failed with its reason, the others running, and no leftover folder', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-restore-'));
  const spec = { model: 'mlp', checkpointSeconds: 3600, evalIntervalSeconds: 3600 } as const;
  const first = await startCoordinator(spec, { operatorToken: TOKEN, dataDir });
  open.push(first);
  // job-1 trains to version 2, checkpointed at 1 and 2.
  const { w, job: assignment } = await joinAssigned(first.url, sockets, 'vitest');
  const job1 = first.coordinator.jobs.get(assignment.jobId)!;
  const v1 = await push(w, assignment, 0);
  await job1.checkpointIfChanged();
  await push(w, assignment, v1);
  await job1.checkpointIfChanged();
  // job-2 is another mlp; job-3 a 2-tensor logistic regression: its checkpoints are not an mlp's.
  expect((await api(first.url, 'POST', '/api/jobs', { spec, start: true })).status).toBe(201);
  const logreg = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
  expect((await api(first.url, 'POST', '/api/jobs', { spec: { ...spec, model: 'custom' }, topology: logreg.toJSON(undefined, false), start: true })).status).toBe(201);
  for (const s of sockets.splice(0)) s.disconnect();
  await first.close(); // checkpoints every job
  open.splice(0);

  const dir = (id: string) => join(dataDir, 'checkpoints', id);
  const foreign = join(dir('job-3'), ckpt(0));
  copyFileSync(foreign, join(dir('job-1'), ckpt(99)));
  for (const f of readdirSync(dir('job-2'))) rmSync(join(dir('job-2'), f));
  copyFileSync(foreign, join(dir('job-2'), ckpt(5)));
  mkdirSync(dir('job-77'));
  copyFileSync(foreign, join(dir('job-77'), ckpt(1)));

  const second: Coordinator = createCoordinator({ dataDir, operatorToken: TOKEN, slots: NO_LATE_SLOTS });
  open.push(second);
  const restored = await second.restore();
  expect(restored.map((j) => j.id)).toEqual(['job-1', 'job-2', 'job-3']);
  const { port } = await second.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const detail = async (id: string) => (await (await fetch(`${url}/api/jobs/${id}`)).json()) as JobDetail;

  const one = await detail('job-1');
  expect(one).toMatchObject({ state: 'running', version: 2, resumedFrom: { version: 2 } });
  // The foreign file is set aside: it no longer poses as job-1's newest checkpoint.
  const listed = (await (await api(url, 'GET', '/api/jobs/job-1/checkpoints')).json()) as CheckpointInfo[];
  expect(listed.map((c) => c.version)).toEqual([1, 2]);
  expect(existsSync(join(dir('job-1'), `${ckpt(99)}.refused`))).toBe(true);

  const two = await detail('job-2');
  expect(two.state).toBe('failed');
  expect(two.failure).toMatch(/no usable checkpoint: the newest \(ckpt-000000000005\.dpck\) the checkpoint has 2 tensors, the model 4/);
  expect((await detail('job-3')).state).toBe('running');
  expect(existsSync(dir('job-77'))).toBe(false);

  // job-1 trains on from version 2, and job-2's failure outlives another restart.
  const { w: again, job: reassigned } = await joinAssigned(url, sockets, 'vitest');
  expect(reassigned.jobId).toBe('job-1');
  expect(await push(again, reassigned, 2)).toBe(3);
  for (const s of sockets.splice(0)) s.disconnect();
  await second.close();
  open.splice(0);
  const third = createCoordinator({ dataDir, operatorToken: TOKEN, slots: NO_LATE_SLOTS });
  open.push(third);
  const states = Object.fromEntries((await third.restore()).map((j) => [j.id, j.state]));
  expect(states).toEqual({ 'job-1': 'running', 'job-2': 'failed', 'job-3': 'running' });
  // The failed job never checkpointed its untrained parameters as if they were its state.
  expect(readdirSync(dir('job-2'))).toEqual([ckpt(5)]);
});
