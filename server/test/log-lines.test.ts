/**
 * The coordinator's logs as a log pipeline gets them: `npm start`'s entry point runs as
 * its own process at debug level, an operator signs in (and fails to), creates, pauses,
 * stops, downloads and deletes a job, uploads a dataset and watches the dashboard, a
 * worker trains a little on real MNIST; then SIGTERM. Every line of its stderr is a JSON object with the expected fields,
 * stdout holds no log line, and the operator token appears nowhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { io } from 'socket.io-client';
import { afterAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { OPERATOR_NAMESPACE, type JobDetail } from '../../shared/operator-protocol.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { joinAsTrainer, pushWithSlots, waitForEvent } from '../../test-support/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'log-lines-operator-token-5f0c2a';
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface LogLine {
  level: string;
  time: string;
  pid: number;
  hostname: string;
  ns: string;
  msg: string;
  [field: string]: unknown;
}

it('every line is JSON with level, time, pid, hostname, ns and msg, and none holds the operator token', { timeout: 120_000 }, async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/main.ts', '--port', '0', '--host', '127.0.0.1', '--no-build', '--no-default-job', '--data-dir', mkdtempSync(join(tmpdir(), 'downpour-logs-'))],
    {
      cwd: ROOT,
      env: { ...process.env, DOWNPOUR_ADMIN_TOKEN: TOKEN, DOWNPOUR_LOG: 'debug', DOWNPOUR_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not print its URL within 30 s; stderr: ${stderr}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /open (http:\/\/\S+?)\/? to donate/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`coordinator exited with ${code}; stderr: ${stderr}`)));
  });
  const api = (path: string, init: RequestInit = {}, auth = `Bearer ${TOKEN}`) =>
    fetch(url + path, { ...init, headers: { authorization: auth, 'content-type': 'application/json' } });

  // Sign in, and fail to.
  expect((await api('/api/auth/check', { method: 'POST' })).status).toBe(200);
  for (const wrong of ['Bearer wrong-token', `Basic ${TOKEN}`, `Bearer ${TOKEN}-and-more`]) {
    expect((await api('/api/auth/check', { method: 'POST' }, wrong)).status).toBe(401);
  }
  const spec = { name: 'log lines', model: 'mlp', evalIntervalSeconds: 3600, checkpointSeconds: 1 };
  expect((await api('/api/jobs', { method: 'POST', body: JSON.stringify({ spec }) }, 'Bearer wrong-token')).status).toBe(401);
  expect((await api('/api/jobs', { method: 'POST', body: JSON.stringify({ spec: { model: 'no-such-model' } }) })).status).toBe(400);
  const created = await api('/api/jobs', { method: 'POST', body: JSON.stringify({ spec, start: true }) });
  expect(created.status).toBe(201);
  const jobId = ((await created.json()) as { job: JobDetail }).job.id;

  // The dashboard's socket: refused without the token, served with it.
  const refused = io(url + OPERATOR_NAMESPACE, { auth: { token: 'wrong' }, transports: ['websocket'], reconnection: false, forceNew: true });
  await waitForEvent(refused, 'connect_error');
  refused.close();
  const dashboard = io(url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  await waitForEvent(dashboard, 'dashboard:init', 10_000);

  // A worker trains a few real batches.
  tf.enableProdMode();
  await tf.setBackend('cpu');
  const trainer = await joinAsTrainer(url);
  const lease = await trainer.worker.emitWithAck('shard:lease', { jobId });
  if (!lease.ok || !lease.lease) throw new Error('no lease');
  const shard = await fetchShard(url + lease.lease.url);
  for (const batch of [...batchesOf(shard, trainer.job.batchSize, lease.lease)].slice(0, 3)) {
    const { version, values } = await trainer.pull();
    trainer.trainer.setParams(values);
    const g = await trainer.trainer.gradient(batch);
    const payload = encodeTensors(trainer.job.tensors.map((t, i) => ({ ...t, values: g.grads[i]! })));
    const ack = await pushWithSlots(trainer.worker, { jobId, leaseId: lease.lease.leaseId, baseVersion: version, batches: 1, loss: g.loss, ...payload });
    expect(ack.ok).toBe(true);
  }
  for (const action of ['pause', 'resume', 'stop']) expect((await api(`/api/jobs/${jobId}/${action}`, { method: 'POST' })).status).toBe(200);
  // Stopping writes the job's last checkpoint; deleting the job first would cancel it (a debug line of its own).
  await expect.poll(async () => ((await (await api(`/api/jobs/${jobId}/checkpoints`)).json()) as unknown[]).length, { timeout: 30_000 }).toBeGreaterThan(0);
  for (const path of ['checkpoints', 'model', 'weights.bin']) expect((await api(`/api/jobs/${jobId}/${path}`)).status, path).toBe(200);
  const csv = 'a,b,label\n' + Array.from({ length: 20 }, (_, i) => `${i},${i % 3},${i % 2}`).join('\n');
  const upload = await fetch(`${url}/api/datasets?name=tiny&format=csv`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' }, body: csv });
  expect(upload.status).toBeLessThan(300);
  expect((await api(`/api/jobs/${jobId}`, { method: 'DELETE' })).status).toBe(200);
  trainer.close();
  dashboard.close();

  child.kill('SIGTERM');
  expect(await exited).toBe(0);

  expect(stdout).not.toContain('"level"');
  expect(stdout + stderr).not.toContain(TOKEN);
  const lines = stderr.trimEnd().split('\n').map((text): LogLine => {
    try {
      return JSON.parse(text) as LogLine;
    } catch {
      throw new Error(`not a JSON line: ${text}`);
    }
  });
  for (const line of lines) {
    expect(['debug', 'info', 'warn', 'error'], JSON.stringify(line)).toContain(line.level);
    expect(new Date(line.time).toISOString()).toBe(line.time);
    expect(line.pid).toBe(child.pid);
    expect(typeof line.hostname).toBe('string');
    expect(typeof line.ns).toBe('string');
    expect(typeof line.msg).toBe('string');
  }
  const found = (ns: string, msg: string, fields: Record<string, unknown> = {}) =>
    expect(lines.some((l) => l.ns === ns && l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)), `${ns} "${msg}"`).toBe(true);
  found('jobs', 'job created', { job: jobId, jobName: 'log lines', model: 'mlp', level: 'info' });
  found('worker-ns', 'worker joined', { job: jobId });
  found('worker-ns', 'worker left');
  found('job', 'job state', { job: jobId, state: 'paused' });
  found('job', 'job stopped', { job: jobId, reason: 'stopped by the operator' });
  found('job', 'checkpoint written', { job: jobId, level: 'debug' });
  found('main', 'shutting down', { signal: 'SIGTERM' });
});
