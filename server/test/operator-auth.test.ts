/**
 * Every mutating route and the operator namespace refuse without the operator token
 * and work with it; the worker namespace can reach no operator action; the token
 * never reaches a worker. That it never reaches a log line: log-lines.test.ts, which
 * reads every line of a whole coordinator process.
 */
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { OPERATOR_NAMESPACE } from '../../shared/operator-protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectTestWorker, leaseShard, startCoordinator, unzip, type Running } from '../../test-support/index.js';

const TOKEN = 'operator-secret-token-for-tests';
let run: Running;

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN, dataDir: mkdtempSync(join(tmpdir(), 'downpour-auth-')) });
});

afterAll(async () => {
  await run?.close();
});

const CSV = 'a,b,label\n' + Array.from({ length: 20 }, (_, i) => `${i},${i % 3},${i % 2}`).join('\n');

/** Every operator route, with a body that would be accepted. */
const routes = (jobId: string): { method: string; path: string; body?: string; type?: string }[] => [
  { method: 'POST', path: '/api/auth/check' },
  { method: 'POST', path: '/api/jobs', body: JSON.stringify({ spec: { model: 'mlp' } }), type: 'application/json' },
  { method: 'POST', path: `/api/jobs/${jobId}/pause` },
  { method: 'POST', path: `/api/jobs/${jobId}/resume` },
  { method: 'POST', path: `/api/jobs/${jobId}/stop` },
  { method: 'POST', path: `/api/jobs/${jobId}/start` },
  { method: 'DELETE', path: `/api/jobs/${jobId}` },
  { method: 'GET', path: `/api/jobs/${jobId}/model` },
  { method: 'GET', path: `/api/jobs/${jobId}/model/model.json` },
  { method: 'GET', path: `/api/jobs/${jobId}/model/weights.bin` },
  { method: 'GET', path: `/api/jobs/${jobId}/weights.bin` },
  { method: 'GET', path: `/api/jobs/${jobId}/model.zip` },
  { method: 'GET', path: `/api/jobs/${jobId}/metrics.json` },
  { method: 'GET', path: `/api/jobs/${jobId}/evals.csv` },
  { method: 'GET', path: `/api/jobs/${jobId}/history.csv` },
  { method: 'GET', path: `/api/jobs/${jobId}/checkpoints` },
  { method: 'GET', path: `/api/jobs/${jobId}/checkpoints/ckpt-000000000001.dpck` },
  { method: 'POST', path: '/api/datasets?name=tiny&format=csv', body: CSV, type: 'text/csv' },
  { method: 'DELETE', path: '/api/datasets/tiny' },
];

function call(r: { method: string; path: string; body?: string; type?: string }, auth?: string) {
  const headers: Record<string, string> = {};
  if (r.type) headers['content-type'] = r.type;
  if (auth) headers.authorization = auth;
  return fetch(run.url + r.path, { method: r.method, headers, body: r.body });
}

describe('operator authentication', () => {
  for (const r of routes('job-1')) {
    it(`${r.method} ${r.path.replace('job-1', ':id')}: 401 without the token or with a wrong one`, async () => {
      for (const auth of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`, TOKEN]) {
        const res = await call(r, auth);
        expect(res.status).toBe(401);
        expect(await res.json()).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
      }
      expect(run.coordinator.jobs.list()).toHaveLength(1);
      expect(run.coordinator.jobs.get('job-1')!.state).toBe('running');
    });
  }

  it('every route answers its success status and body with the token', async () => {
    const exercised: string[] = [];
    const send = (method: string, path: string, body?: string, type?: string) => {
      exercised.push(`${method} ${path}`);
      return call({ method, path, body, type }, `Bearer ${TOKEN}`);
    };
    const json = async (res: Response, status: number) => {
      expect(res.status, res.url).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return res.json();
    };

    expect(await json(await send('POST', '/api/auth/check'), 200)).toEqual({ ok: true });
    // Priority 1, so the worker below is assigned this job rather than job-1.
    const spec = { model: 'mlp', name: 'auth target', priority: 1 };
    const created = (await json(await send('POST', '/api/jobs', JSON.stringify({ spec }), 'application/json'), 201)) as { job: { id: string } };
    expect(created).toMatchObject({ ok: true, job: { name: 'auth target', state: 'draft', parameters: 101_770, spec: { model: 'mlp', priority: 1 } } });
    const id = created.job.id;
    const job = run.coordinator.jobs.get(id)!;
    const control = async (action: string, state: string) =>
      expect(await json(await send('POST', `/api/jobs/${id}/${action}`), 200)).toMatchObject({ ok: true, job: { id, state } });
    await control('start', 'running');
    await control('pause', 'paused');
    await control('resume', 'running');

    // One accepted push moves the version, so stopping writes a checkpoint and the downloads hold trained values.
    const w = await connectTestWorker(run.url);
    try {
      const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest-auth' });
      if (!hello.ok || hello.job?.jobId !== id) throw new Error('the worker was not assigned the new job');
      const payload = encodeTensors(hello.job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
      const { leaseId } = await leaseShard(w, id);
      expect(await w.emitWithAck('grads:push', { jobId: id, leaseId, baseVersion: 0, batches: 1, loss: 2.3, ...payload })).toMatchObject({ ok: true, version: 1 });
    } finally {
      w.disconnect();
    }
    await control('stop', 'stopped');

    const model = { format: 'layers-model', modelTopology: job.topology, userDefinedMetadata: { jobId: id, version: 1 } };
    for (const path of [`/api/jobs/${id}/model`, `/api/jobs/${id}/model/model.json`]) {
      const body = (await json(await send('GET', path), 200)) as { weightsManifest: { paths: string[]; weights: { name: string }[] }[] };
      expect(body).toMatchObject(model);
      expect(body.weightsManifest).toEqual([{ paths: ['weights.bin'], weights: job.store.specs.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' })) }]);
    }
    const trained = Buffer.concat(job.store.tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength)));
    expect(trained.length).toBe(101_770 * 4);
    for (const path of [`/api/jobs/${id}/model/weights.bin`, `/api/jobs/${id}/weights.bin`]) {
      const res = await send('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(Buffer.from(await res.arrayBuffer()).equals(trained), path).toBe(true);
    }

    const archive = await send('GET', `/api/jobs/${id}/model.zip`);
    expect(archive.status).toBe(200);
    expect(archive.headers.get('content-type')).toBe('application/zip');
    expect([...unzip(Buffer.from(await archive.arrayBuffer())).keys()]).toEqual(['model.json', 'weights.bin', 'README.txt'].map((f) => `auth-target-${id}-v1/${f}`));

    expect(await json(await send('GET', `/api/jobs/${id}/metrics.json`), 200)).toMatchObject({ job: { id, state: 'stopped' } });
    for (const file of ['evals.csv', 'history.csv']) {
      const res = await send('GET', `/api/jobs/${id}/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    }

    // Stopping evaluates, then checkpoints version 1: wait for the file, then list and fetch it.
    const checkpoints = async () => (await (await call({ method: 'GET', path: `/api/jobs/${id}/checkpoints` }, `Bearer ${TOKEN}`)).json()) as unknown[];
    await expect.poll(async () => (await checkpoints()).length, { timeout: 60_000, interval: 200 }).toBe(1);
    const list = (await json(await send('GET', `/api/jobs/${id}/checkpoints`), 200)) as { bytes: number }[];
    expect(list).toEqual([{ name: 'ckpt-000000000001.dpck', version: 1, at: expect.any(Number), bytes: expect.any(Number) }]);
    const file = await send('GET', `/api/jobs/${id}/checkpoints/ckpt-000000000001.dpck`);
    expect(file.status).toBe(200);
    expect((await file.arrayBuffer()).byteLength).toBe(list[0]!.bytes);

    expect(await json(await send('DELETE', `/api/jobs/${id}`), 200)).toEqual({ ok: true });
    expect(run.coordinator.jobs.get(id)).toBeUndefined();

    const upload = await send('POST', '/api/datasets?name=tiny&format=csv', CSV, 'text/csv');
    expect(await json(upload, 201)).toEqual({ ok: true, dataset: { name: 'tiny', featureShape: [2], numClasses: 2, trainCount: expect.any(Number), testCount: expect.any(Number), source: 'upload' } });

    expect(await json(await send('DELETE', '/api/datasets/tiny'), 200)).toEqual({ ok: true });
    expect((await (await fetch(`${run.url}/api/datasets`)).json()) as { name: string }[]).not.toContainEqual(expect.objectContaining({ name: 'tiny' }));

    // Every route the 401 cases cover was checked here, and no other.
    expect(exercised.sort()).toEqual(routes(id).map((r) => `${r.method} ${r.path}`).sort());
  });

  it('the operator namespace refuses a connection without the token', async () => {
    for (const auth of [{}, { token: 'wrong' }]) {
      const s = io(run.url + OPERATOR_NAMESPACE, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
      const err = await new Promise<Error & { data?: { code?: string } }>((resolve) => s.once('connect_error', resolve));
      expect(err.message).toBe(ErrorCode.UNAUTHORIZED);
      expect(err.data?.code).toBe(ErrorCode.UNAUTHORIZED);
      s.close();
    }
  });

  it('the operator namespace sends the dashboard state with the token', async () => {
    const s = io(run.url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
    const init = await new Promise<{ jobs: { id: string }[] }>((resolve) => s.once('dashboard:init', resolve));
    expect(init.jobs.map((j) => j.id)).toContain('job-1');
    s.close();
  });

  it('the worker namespace reaches no operator action, and never sees the token', async () => {
    const w = await connectTestWorker(run.url);
    const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest' });
    expect(JSON.stringify(hello)).not.toContain(TOKEN);
    const jobsBefore = run.coordinator.jobs.list().map((j) => `${j.id}:${j.state}`);
    for (const event of ['job:create', 'job:control', 'dashboard:init', 'operator:anything']) {
      (w as unknown as { emit(e: string, ...a: unknown[]): void }).emit(event, { spec: { model: 'mlp' }, jobId: 'job-1', action: 'stop' });
    }
    await w.emitWithAck('params:pull', { jobId: hello.ok && hello.job ? hello.job.jobId : '' });
    expect(run.coordinator.jobs.list().map((j) => `${j.id}:${j.state}`)).toEqual(jobsBefore);
    w.disconnect();
  });
});
