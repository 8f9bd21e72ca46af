/**
 * The chief's recovery duty: the coordinator runs as a child process, trains, is
 * SIGKILLed, and restarts on the same data dir: the job continues from its last
 * checkpoint and training goes on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { CheckpointInfo, JobDetail } from '../../shared/operator-protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectTestWorker, LeasedPusher } from '../../test-support/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'crash-token';
const children: ChildProcess[] = [];

async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/main.ts', '--port', '0', '--host', '127.0.0.1', '--no-build', '--no-default-job', '--data-dir', dataDir],
    { cwd: ROOT, env: { ...process.env, DOWNPOUR_ADMIN_TOKEN: TOKEN, DOWNPOUR_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('coordinator did not print its URL within 30 s')), 30_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/\S+?)\/? to donate/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
  return { child, url };
}

const api = (url: string, path: string, init: RequestInit = {}) =>
  fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

it('resumes from the last checkpoint after SIGKILL and keeps training', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-crash-'));
  const first = await startChild(dataDir);
  const created = (await (
    // No direction check: the pushes below are hand-made, not gradients it could judge.
    await api(first.url, '/api/jobs', { method: 'POST', body: JSON.stringify({ spec: { model: 'mlp', checkpointSeconds: 1, evalIntervalSeconds: 3600, directionThreshold: null }, start: true }) })
  ).json()) as { job: JobDetail };
  const jobId = created.job.id;

  const push = async (w: LeasedPusher, tensors: { name: string; shape: number[] }[], baseVersion: number) => {
    const payload = encodeTensors(tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
    return w.push({ baseVersion, loss: 2, ...payload });
  };

  const w1 = await connectTestWorker(first.url);
  const hello = await w1.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('no job');
  const tensors = hello.job.tensors;
  const pusher1 = new LeasedPusher(w1, jobId);
  let version = 0;
  let checkpointed = 0;
  const deadline = Date.now() + 30_000;
  while (checkpointed < 20 && Date.now() < deadline) {
    const r = await push(pusher1, tensors, version);
    if (r.ok) version = r.version;
    const list = (await (await api(first.url, `/api/jobs/${jobId}/checkpoints`)).json()) as CheckpointInfo[];
    checkpointed = list.at(-1)?.version ?? 0;
  }
  expect(checkpointed).toBeGreaterThanOrEqual(20);
  const versionAtKill = version;
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await startChild(dataDir);
  const detail = (await (await fetch(`${second.url}/api/jobs/${jobId}`)).json()) as JobDetail;
  expect(detail.state).toBe('running');
  expect(detail.version).toBeGreaterThanOrEqual(checkpointed);
  expect(detail.version).toBeLessThanOrEqual(versionAtKill);
  expect(detail.resumedFrom?.version).toBe(detail.version);

  const w2 = await connectTestWorker(second.url);
  const again = await w2.emitWithAck('worker:hello', { userAgent: 'vitest' });
  expect(again.ok && again.job?.jobId).toBe(jobId);
  const r = await push(new LeasedPusher(w2, jobId), tensors, detail.version);
  expect(r).toMatchObject({ ok: true, version: detail.version + 1 });
  w1.disconnect();
  w2.disconnect();
  second.child.kill('SIGTERM');
  await new Promise((res) => second.child.once('exit', res));
});
