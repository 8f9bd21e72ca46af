/**
 * Deleting a job through the operator API leaves nothing of it behind: no checkpoint
 * folder (even with a checkpoint being written, and with the one its stop writes when
 * its last evaluation returns), no rows, and its id is never handed out again, not even
 * after a restart on the same data dir.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { createCoordinator } from '../coordinator.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';
import { NO_LATE_SLOTS, joinAssigned, leaseShard, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'deletion-token';
const sockets: TestWorker[] = [];
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  for (const c of open.splice(0)) await c.close();
});

async function start(dataDir: string): Promise<Running> {
  // Checkpoints and evaluations only when the test asks: no timer writes behind its back.
  const run = await startCoordinator({ model: 'mlp', checkpointSeconds: 3600, evalIntervalSeconds: 3600 }, { operatorToken: TOKEN, dataDir });
  open.push(run);
  return run;
}

const api = (url: string, method: string, path: string, body?: unknown) =>
  fetch(url + path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

async function pushOnce(w: TestWorker, job: JobAssignment): Promise<void> {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  const { leaseId } = await leaseShard(w, job.jobId);
  const r = await w.emitWithAck('grads:push', { jobId: job.jobId, leaseId, baseVersion: 0, batches: 1, loss: 2, ...payload });
  expect(r.ok).toBe(true);
}

describe('a deleted job leaves nothing behind', () => {
  it('no checkpoint folder: its stop checkpoints once more after the deletion, and that write is cancelled', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-delete-'));
    const run = await start(dataDir);
    const { w, job: assignment } = await joinAssigned(run.url, sockets, 'vitest');
    await pushOnce(w, assignment);
    const job = run.coordinator.jobs.get(assignment.jobId)!;

    expect((await api(run.url, 'DELETE', `/api/jobs/${job.id}`)).status).toBe(200);
    // The stop the deletion makes evaluates, then checkpoints (Job.finish); wait for both.
    await job.evaluateIfChanged();
    await job.checkpointIfChanged();
    expect(existsSync(join(dataDir, 'checkpoints', job.id))).toBe(false);
  });

  it('no checkpoint folder when a checkpoint is being written as the job is deleted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-delete-'));
    const run = await start(dataDir);
    const { w, job: assignment } = await joinAssigned(run.url, sockets, 'vitest');
    await pushOnce(w, assignment);
    const job = run.coordinator.jobs.get(assignment.jobId)!;

    const inFlight = job.checkpointIfChanged();
    expect((await api(run.url, 'DELETE', `/api/jobs/${job.id}`)).status).toBe(200);
    await inFlight;
    await job.evaluateIfChanged();
    await job.checkpointIfChanged();
    expect(existsSync(join(dataDir, 'checkpoints', job.id))).toBe(false);
  });
});

describe('job ids are never handed out twice', () => {
  const createVia = async (url: string) => {
    const r = await api(url, 'POST', '/api/jobs', { spec: { model: 'mlp', evalIntervalSeconds: 3600 } });
    expect(r.status).toBe(201);
    return ((await r.json()) as { job: { id: string } }).job.id;
  };

  it('deleting the newest job, then restarting on the same data dir, does not give its id to the next job', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-ids-'));
    const first = await start(dataDir);
    expect(first.job.id).toBe('job-1');
    const second = await createVia(first.url);
    expect(second).toBe('job-2');
    expect((await api(first.url, 'DELETE', `/api/jobs/${second}`)).status).toBe(200);
    await first.close();
    open.splice(open.indexOf(first), 1);

    const again = createCoordinator({ dataDir, operatorToken: TOKEN, slots: NO_LATE_SLOTS });
    open.push(again);
    expect((await again.restore()).map((j) => j.id)).toEqual(['job-1']);
    const { port } = await again.listen(0, '127.0.0.1');
    expect(await createVia(`http://127.0.0.1:${port}`)).toBe('job-3');
  });

  it('a refused spec uses up no id; a data dir from before the counter continues past its highest job', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-ids-'));
    const run = await start(dataDir);
    expect((await api(run.url, 'POST', '/api/jobs', { spec: { model: 'cnn', dataset: 'iris' } })).status).toBe(400);
    expect(await createVia(run.url)).toBe('job-2');
    await run.close();
    open.splice(open.indexOf(run), 1);

    const legacy = new Database(join(dataDir, 'downpour.sqlite'));
    legacy.exec('DROP TABLE counters');
    legacy.close();
    const reopened = new SqliteJobStore(join(dataDir, 'downpour.sqlite'));
    expect(reopened.takeJobNumber()).toBe(3);
    reopened.close();
  });
});
