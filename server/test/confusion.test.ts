/**
 * Every evaluation counts a confusion matrix in the evaluation thread: rows are the
 * test set's true classes, so each row sums to that class's test examples and the
 * diagonal over the total is the reported accuracy. It is sent with `job:eval`, kept
 * (the latest) in the job's detail, stored with the record, and back after a restart;
 * a store made before the column existed gains it.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { io } from 'socket.io-client';
import { OPERATOR_NAMESPACE, type JobDetail } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import { loadMnist } from '../data/mnist.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';
import { NO_LATE_SLOTS, LeasedPusher, joinAssigned, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running | null = null;
let restarted: Coordinator | null = null;
const sockets: TestWorker[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  await restarted?.close();
  run = restarted = null;
});

it('counts, sends, stores and restores the confusion matrix of each evaluation', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-confusion-'));
  run = await startCoordinator({ model: 'mlp' }, { dataDir, operatorToken: 'confusion-token' });
  const dashboard = io(run.url + OPERATOR_NAMESPACE, { auth: { token: 'confusion-token' }, transports: ['websocket'], reconnection: false, forceNew: true });
  await waitForEvent(dashboard, 'dashboard:init');
  const sent = waitForEvent<{ record: EvalRecord }>(dashboard, 'job:eval', 60_000);
  const { w, job } = await joinAssigned(run.url, sockets, 'vitest-confusion');
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: Float32Array.from({ length: sizeOf(t.shape) }, (_, i) => ((i % 5) - 2) * 1e-3) })));
  expect(await new LeasedPusher(w, job.jobId).push({ baseVersion: 0, loss: 2.3, ...payload })).toMatchObject({ ok: true });

  const rec = (await run.job.evaluateIfChanged())!;
  const matrix = run.job.confusion!.matrix;
  expect(run.job.confusion!.version).toBe(rec.version);
  expect(matrix).toHaveLength(10);
  const test = loadMnist().test;
  for (let c = 0; c < 10; c++) {
    expect(matrix[c]).toHaveLength(10);
    expect(matrix[c]!.reduce((a, b) => a + b, 0), `row ${c}`).toBe(test.labels.filter((l) => l === c).length);
  }
  const diagonal = matrix.reduce((a, row, c) => a + row[c]!, 0);
  expect(diagonal / test.count).toBeCloseTo(rec.accuracy, 10);
  expect((await sent).record.confusion).toEqual(matrix);
  dashboard.disconnect();
  // Only the latest matrix is kept in memory; the history's records have none.
  expect(run.job.evals.at(-1)).not.toHaveProperty('confusion');

  const detail = (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;
  expect(detail.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  expect(detail.examplesPerEpoch).toBe(60_000);
  expect(detail.confusion).toEqual({ version: rec.version, matrix });

  const id = run.job.id;
  await run.close();
  run = null;
  const db = new SqliteJobStore(join(dataDir, 'downpour.sqlite'));
  expect(db.evals(id, { confusion: true }).at(-1)?.confusion).toEqual(matrix);
  expect(db.evals(id).at(-1)).not.toHaveProperty('confusion');
  db.close();
  restarted = createCoordinator({ dataDir, slots: NO_LATE_SLOTS });
  await restarted.restore();
  expect(restarted.jobs.get(id)?.confusion).toEqual({ version: rec.version, matrix });
});

it('adds the confusion column to a store made before it existed', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'downpour-old-store-')), 'downpour.sqlite');
  const old = new Database(path);
  old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, spec TEXT NOT NULL, topology TEXT, state TEXT NOT NULL, failure TEXT, created_at INTEGER NOT NULL);
    CREATE TABLE evals (job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, version INTEGER NOT NULL, examples_seen INTEGER NOT NULL, accuracy REAL NOT NULL, loss REAL NOT NULL, at INTEGER NOT NULL);
    INSERT INTO jobs VALUES ('job-1', '{}', NULL, 'done', NULL, 1);
    INSERT INTO evals VALUES ('job-1', 7, 448, 0.5, 1.5, 2);`);
  old.close();
  const store = new SqliteJobStore(path);
  expect(store.evals('job-1', { confusion: true })).toEqual([{ version: 7, examplesSeen: 448, accuracy: 0.5, loss: 1.5, at: 2 }]);
  store.addEval('job-1', { version: 8, examplesSeen: 512, accuracy: 0.6, loss: 1.2, at: 3, confusion: [[1, 0], [0, 1]] });
  expect(store.evals('job-1', { confusion: true }).at(-1)?.confusion).toEqual([[1, 0], [0, 1]]);
  store.close();
});
