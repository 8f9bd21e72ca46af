/**
 * Dataset uploads and deletions through the operator API, as a careless operator
 * makes them: 200,000 rows, values float32 cannot hold, two uploads of one name at
 * once, duplicated headers, quoted fields, a 49 MB file (the event loop is measured
 * while it is parsed), and DELETE /api/datasets/:name with its refusals.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import type { DatasetInfo, JobDetail } from '../../shared/operator-protocol.js';
import { decodeShard } from '../../shared/shard-format.js';
import { joinAssigned, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'uploads-token';
let run: Running;
let dataDir: string;
const sockets: TestWorker[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'downpour-uploads-'));
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN, dataDir });
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

async function api(method: string, path: string, body?: string | Buffer | object, type = 'text/csv') {
  const json = typeof body === 'object' && !Buffer.isBuffer(body);
  const res = await fetch(run.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': json ? 'application/json' : type },
    body: json ? JSON.stringify(body) : (body as string | Uint8Array<ArrayBuffer> | undefined),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean; code?: string; message?: string; dataset?: DatasetInfo; job?: JobDetail } };
}
const upload = (name: string, csv: string | Buffer) => api('POST', `/api/datasets?name=${name}&format=csv`, csv);
/** POST /api/datasets through node:http, writing the body in 64 KiB pieces as the socket drains. */
function streamUpload(name: string, bytes: Buffer): Promise<{ status: number; body: { dataset?: DatasetInfo } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${run.url}/api/datasets?name=${name}&format=csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv', 'content-length': bytes.length },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    const send = (at: number): void => {
      for (; at < bytes.length; at += 64 * 1024) {
        if (!req.write(bytes.subarray(at, at + 64 * 1024))) return void req.once('drain', () => send(at + 64 * 1024));
      }
      req.end();
    };
    send(0);
  });
}
const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const names = async () => ((await (await fetch(run.url + '/api/datasets')).json()) as DatasetInfo[]).map((d) => d.name);

describe('uploads', () => {
  it('200,000 rows with integer labels are accepted', async () => {
    const r = await upload('many-rows', 'x,y,label\n' + rows(200_000, (i) => `${i % 97},${i % 13},${i % 10}`));
    expect(r).toMatchObject({ status: 201, body: { ok: true, dataset: { numClasses: 10, trainCount: 160_000, testCount: 40_000 } } });
  });

  it('a value float32 cannot hold is refused with its line and column', async () => {
    const r = await upload('huge-value', 'a,b,label\n' + rows(20, (i) => (i === 6 ? '1,1e39,0' : `${i},${i},${i % 2}`)));
    expect(r).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST, message: 'Line 8, column "b": 1e39 is beyond float32\'s range (±3.4e38)' } });
    expect(await names()).not.toContain('huge-value');
  });

  it('two uploads of one name at once: one is registered, the other is a 409, and no temporary file is left', async () => {
    const csv = 'a,label\n' + rows(2000, (i) => `${i},${i % 2}`);
    const answers = await Promise.all([upload('twice', csv), upload('twice', csv)]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    expect(answers.find((a) => a.status === 409)!.body).toMatchObject({ code: ErrorCode.CONFLICT, message: expect.stringMatching(/"twice" is being uploaded/) });
    expect((await upload('twice', csv)).body).toMatchObject({ code: ErrorCode.CONFLICT, message: expect.stringMatching(/already exists/) });
    expect(readdirSync(join(dataDir, 'datasets')).filter((f) => f.includes('twice'))).toEqual(['twice.csv']);
  });

  it('a duplicated label header is refused (it became a feature)', async () => {
    const r = await upload('two-labels', 'a,label,label\n' + rows(20, (i) => `${i},${i % 2},${i % 3}`));
    expect(r).toMatchObject({ status: 400, body: { message: expect.stringMatching(/column "label" appears twice/) } });
  });

  it('quoted fields are read as RFC 4180 says', async () => {
    const csv = '"width, cm","height",label\n' + rows(30, (i) => `"${i}.25","${i % 5}","${i % 2 ? 'tall, thin' : 'say ""short""'}"`);
    const r = await upload('quoted', csv);
    expect(r).toMatchObject({ status: 201, body: { dataset: { featureShape: [2], numClasses: 2, trainCount: 24, testCount: 6 } } });
  });

  it('a 49 MB upload never blocks the event loop for 200 ms', async () => {
    const line = (i: number) => `${(i % 1000) / 7},${i % 31},${(i * 7) % 1009},${-(i % 17) / 3},${i % 2 ? 1.5e-7 : 2.25e5},${i % 3}`;
    let text = 'a,b,c,d,e,label\n';
    const block = rows(10_000, line);
    while (text.length < 49 * 1024 * 1024) text += block + '\n';
    // The client shares this process's event loop: it sends the bytes encoded beforehand,
    // 64 KiB at a time (fetch copies a whole Buffer body, which alone blocks for seconds here).
    const csv = Buffer.from(text);
    await names(); // the built-ins load on the first listing; that is not the upload's doing
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const r = await streamUpload('big-file', csv);
    delay.disable();
    expect(r.status).toBe(201);
    expect(r.body.dataset!.trainCount + r.body.dataset!.testCount).toBeGreaterThan(1_000_000);
    // Parsed whole on the event loop, this file held it for seconds.
    expect(delay.max / 1e6, 'the longest event-loop block, ms').toBeLessThan(200);
  }, 120_000);
});

describe('DELETE /api/datasets/:name', () => {
  it('refuses built-ins and datasets a job uses (409), and unknown names (404)', async () => {
    expect(await api('DELETE', '/api/datasets/mnist')).toMatchObject({ status: 409, body: { code: ErrorCode.CONFLICT } });
    expect(await api('DELETE', '/api/datasets/iris')).toMatchObject({ status: 409, body: { code: ErrorCode.CONFLICT, message: expect.stringMatching(/built-in/) } });
    expect(await api('DELETE', '/api/datasets/no-such-set')).toMatchObject({ status: 404, body: { code: ErrorCode.NOT_FOUND } });
    const job = await api('POST', '/api/jobs', { spec: { model: 'mlp', dataset: 'quoted', shardSize: 10 } });
    expect(job.status).toBe(201);
    expect(await api('DELETE', '/api/datasets/quoted')).toMatchObject({ status: 409, body: { message: expect.stringMatching(new RegExp(`used by ${job.body.job!.id}`)) } });
    await api('DELETE', `/api/jobs/${job.body.job!.id}`);
  });

  it('deletes an upload and its file; a new upload under its name is trained on, not the old shards', async () => {
    const first = await upload('reused', 'a,label\n' + rows(50, (i) => `${i},${i % 2}`));
    expect(first.body.dataset).toMatchObject({ trainCount: 40 });
    const old = await api('POST', '/api/jobs', { spec: { model: 'mlp', dataset: 'reused', shardSize: 10, evalIntervalSeconds: 3600 } });
    await api('DELETE', `/api/jobs/${old.body.job!.id}`);

    expect(await api('DELETE', '/api/datasets/reused')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await names()).not.toContain('reused');
    expect(existsSync(join(dataDir, 'datasets', 'reused.csv'))).toBe(false);
    expect((await api('DELETE', '/api/datasets/reused')).status).toBe(404);

    expect((await upload('reused', 'a,b,label\n' + rows(100, (i) => `${i},${-i},${i % 3}`))).body.dataset).toMatchObject({ trainCount: 80, featureShape: [2] });
    for (const j of run.coordinator.jobs.list()) if (j.state === 'running') j.control('pause');
    const created = await api('POST', '/api/jobs', { spec: { model: 'mlp', dataset: 'reused', shardSize: 10, evalIntervalSeconds: 3600 }, start: true });
    const { w, job } = await joinAssigned(run.url, sockets, 'vitest');
    expect(job.jobId).toBe(created.body.job!.id);
    expect(job.dataset).toMatchObject({ featureShape: [2], numClasses: 3 });
    // The shard served is cut from the new file (two features), not the deleted one's cached shards (one).
    const leased = await w.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!leased.ok || !leased.lease) throw new Error('no lease');
    const shard = decodeShard(new Uint8Array(await (await fetch(run.url + leased.lease.url)).arrayBuffer()));
    expect(shard).toMatchObject({ featureLength: 2, numClasses: 3, count: 10 });
  });
});
