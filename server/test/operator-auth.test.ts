/**
 * Every mutating route and the operator namespace refuse without the operator token
 * and work with it; the worker namespace can reach no operator action; the token
 * never reaches a worker or a log line.
 */
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../shared/errors.js';
import { OPERATOR_NAMESPACE } from '../../shared/operator-protocol.js';
import { setLogLevel } from '../logger.js';
import { connectTestWorker, startCoordinator, type Running } from './helpers.js';

const TOKEN = 'operator-secret-token-for-tests';
let run: Running;
const logged: string[] = [];
const realWrite = process.stderr.write.bind(process.stderr);

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN, dataDir: mkdtempSync(join(tmpdir(), 'downpour-auth-')) });
  setLogLevel('debug');
  process.stderr.write = ((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
});

afterAll(async () => {
  process.stderr.write = realWrite;
  setLogLevel('warn');
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

  it('every route works with the token', async () => {
    const target = (await (await call(routes('x')[1]!, `Bearer ${TOKEN}`)).json()) as { job: { id: string } };
    for (const r of routes(target.job.id).slice(2)) {
      const res = await call(r, `Bearer ${TOKEN}`);
      expect(res.status, `${r.method} ${r.path}`).not.toBe(401);
      expect(res.status, `${r.method} ${r.path}`).toBeLessThan(500);
    }
    expect((await call(routes('x')[0]!, `Bearer ${TOKEN}`)).status).toBe(200);
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

  it('the token appears in no log line', () => {
    expect(logged.length).toBeGreaterThan(0); // job creation and state changes were logged
    expect(logged.join('')).not.toContain(TOKEN);
  });
});
