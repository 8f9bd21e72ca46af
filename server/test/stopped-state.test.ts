/**
 * A job the operator stops ends `stopped`, never `done` (which means it trained every
 * epoch or reached its target): in the REST answers, the stored state, Prometheus and
 * after a restart. A job stored as `done` before `stopped` existed comes back `done`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { JobDetail } from '../../shared/operator-protocol.js';
import type { JobSummary } from '../../shared/protocol.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';
import { NO_LATE_SLOTS, startCoordinator, type Running } from '../../test-support/index.js';

const TOKEN = 'stopped-state-token';
let run: Running | null = null;
let restarted: Coordinator | null = null;

afterEach(async () => {
  await run?.close();
  await restarted?.close();
  run = restarted = null;
});

it('stop ends a job as stopped everywhere, and a restart keeps stopped and done apart', { timeout: 180_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-stopped-'));
  run = await startCoordinator({ model: 'mlp', name: 'to stop' }, { operatorToken: TOKEN, dataDir });
  const id = run.job.id;
  const res = await fetch(`${run.url}/api/jobs/${id}/stop`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  expect(((await res.json()) as { job: JobDetail }).job.state).toBe('stopped');
  expect(((await (await fetch(`${run.url}/api/jobs`)).json()) as JobSummary[])[0]!.state).toBe('stopped');
  const metrics = await (await fetch(`${run.url}/metrics`)).text();
  expect(metrics).toContain(`downpour_job_state{job="${id}",state="stopped"} 1`);
  expect(metrics).toContain(`downpour_job_state{job="${id}",state="done"} 0`);
  // Stopped is final, like done.
  for (const action of ['start', 'resume', 'pause', 'stop'] as const) expect(run.job.control(action).ok).toBe(false);

  const other = await run.coordinator.createJob({ model: 'mlp', name: 'finished before stopped existed' }, { start: false });
  if (!other.ok) throw new Error(other.message);
  await run.close();
  run = null;
  // What an older coordinator stored for a job it stopped, or one that trained to the end.
  const db = new SqliteJobStore(join(dataDir, 'downpour.sqlite'));
  db.setState(other.job.id, 'done', null);
  expect(db.listJobs().map((j) => [j.id, j.state])).toEqual([
    [id, 'stopped'],
    [other.job.id, 'done'],
  ]);
  db.close();

  restarted = createCoordinator({ operatorToken: TOKEN, dataDir, slots: NO_LATE_SLOTS });
  await restarted.restore();
  expect(restarted.jobs.get(id)?.state).toBe('stopped');
  expect(restarted.jobs.get(other.job.id)?.state).toBe('done');
});
