/**
 * The operator's job lifecycle through the REST API: validation errors name the
 * offending field (specs, topologies, dataset files), state transitions, pausing
 * stops training and reassigns workers, uploads register whole or not at all.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { sizeOf } from '../../shared/tensors.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import { connectTestWorker, startCoordinator, waitForEvent, type Running } from '../../test-support/index.js';

const TOKEN = 'lifecycle-token';
let run: Running;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'downpour-life-'));
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN, dataDir });
});
afterAll(async () => run?.close());

async function api(method: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(run.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': type },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean; code?: string; message?: string; job?: JobDetail } };
}

describe('job specs and topologies are validated with the field named', () => {
  const bad: [string, unknown, RegExp][] = [
    ['unknown key', { spec: { modle: 'mlp' } }, /modle/],
    ['bad value', { spec: { batchSize: -1 } }, /batchSize/],
    ['unknown dataset', { spec: { dataset: 'cifar-10' } }, /dataset: no dataset named "cifar-10"/],
    ['cnn on tabular data', { spec: { model: 'cnn', dataset: 'iris' } }, /model: .*input \[4\]/],
    ['custom without topology', { spec: { model: 'custom' } }, /model: A custom model needs a tfjs Layers topology/],
    ['garbage topology', { spec: { model: 'custom' }, topology: { class_name: 'Nope', config: {} } }, /model: The topology's class_name must be Sequential, Model or Functional/],
    ['topology for a preset', { spec: { model: 'mlp' }, topology: { a: 1 } }, /topology: only a custom model/],
    ['unknown body key', { spec: {}, strat: true }, /strat/],
  ];
  for (const [what, body, message] of bad) {
    it(`refuses ${what}`, async () => {
      const before = run.coordinator.jobs.list().length;
      const r = await api('POST', '/api/jobs', body);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
      expect(r.body.message).toMatch(message);
      expect(run.coordinator.jobs.list().length).toBe(before);
    });
  }

  it('refuses a custom topology whose input does not fit the dataset', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [10], units: 10, activation: 'softmax' })] });
    const r = await api('POST', '/api/jobs', { spec: { model: 'custom' }, topology: m.toJSON(undefined, false) });
    expect(r.body.message).toMatch(/input is \[10\], the dataset's examples are \[28,28,1\]/);
  });

  it('accepts a custom topology that fits, and rejects malformed JSON bodies', async () => {
    const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
    const r = await api('POST', '/api/jobs', { spec: { model: 'custom', name: 'logreg' }, topology: m.toJSON(undefined, false) });
    expect(r.status).toBe(201);
    expect(r.body.job!.parameters).toBe(7850);
    expect(r.body.job!.state).toBe('draft');
    const broken = await api('POST', '/api/jobs', '{"spec": {', 'application/json');
    expect(broken).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST } });
  });
});

describe('dataset uploads are validated whole', () => {
  const rows = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  const bad: [string, string, RegExp][] = [
    ['no label column', 'a,b\n' + rows(20, (i) => `${i},${i}`), /no "label" column/],
    ['a non-number', 'a,label\n' + rows(20, (i) => (i === 7 ? 'x,1' : `${i},${i % 2}`)), /Line 9, column "a": "x" is not a finite number/],
    ['ragged rows', 'a,b,label\n' + rows(20, (i) => (i === 3 ? '1,0' : `${i},1,0`)), /Line 5 has 2 cells/],
    ['too few rows', 'a,label\n1,0\n2,1', /at least 10 are needed/],
    ['one class', 'a,label\n' + rows(20, (i) => `${i},0`), /at least two classes/],
  ];
  for (const [what, csv, message] of bad) {
    it(`refuses ${what}, leaving nothing behind`, async () => {
      const r = await api('POST', '/api/datasets?name=bad-set&format=csv', csv, 'text/csv');
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(message);
      const list = (await (await fetch(run.url + '/api/datasets')).json()) as { name: string }[];
      expect(list.map((d) => d.name)).not.toContain('bad-set');
      expect(readdirSync(join(dataDir, 'datasets'))).toEqual([]);
    });
  }

  it('refuses a path-like name and an unknown format', async () => {
    expect((await api('POST', '/api/datasets?name=../../etc&format=csv', 'a,label\n1,0', 'text/csv')).body.message).toMatch(/must match/);
    expect((await api('POST', '/api/datasets?name=ok-name&format=xlsx', 'a,label\n1,0', 'text/csv')).body.message).toMatch(/Format "xlsx"/);
  });

  it('registers a good CSV, and a job trains on it', async () => {
    const csv = 'x,y,label,split\n' + rows(60, (i) => `${i % 7},${(i * 3) % 5},${i % 3 === 0 ? 'odd' : 'even'},${i < 45 ? 'train' : 'test'}`);
    const r = await api('POST', '/api/datasets?name=toy&format=csv', csv, 'text/csv');
    expect(r.status).toBe(201);
    const list = (await (await fetch(run.url + '/api/datasets')).json()) as { name: string; trainCount: number; testCount: number; numClasses: number }[];
    expect(list.find((d) => d.name === 'toy')).toMatchObject({ trainCount: 45, testCount: 15, numClasses: 2 });
    const job = await api('POST', '/api/jobs', { spec: { model: 'mlp', dataset: 'toy', shardSize: 10 }, start: true });
    expect(job.status).toBe(201);
    expect(job.body.job!.state).toBe('running');
    expect(readdirSync(join(dataDir, 'datasets'))).toEqual(['toy.csv']);
  });

  it('creates the default cnn job (its reference gradient needs the wasm Conv2DBackpropFilter kernel)', async () => {
    const r = await api('POST', '/api/jobs', { spec: { model: 'cnn' } });
    expect(r.body.message ?? '').toBe('');
    expect(r.body.job!.parameters).toBe(5994);
  });

  it('offers the built-in datasets', async () => {
    const list = (await (await fetch(run.url + '/api/datasets')).json()) as { name: string; trainCount: number }[];
    expect(list.find((d) => d.name === 'mnist')?.trainCount).toBe(60_000);
    expect(list.find((d) => d.name === 'fashion-mnist')?.trainCount).toBe(60_000);
    expect(list.find((d) => d.name === 'iris')?.trainCount).toBe(120);
  });
});

describe('lifecycle', () => {
  it('start → pause → resume → stop, refusing transitions that make no sense', async () => {
    const created = await api('POST', '/api/jobs', { spec: { model: 'mlp', name: 'life' } });
    const id = created.body.job!.id;
    expect((await api('POST', `/api/jobs/${id}/pause`)).status).toBe(409);
    expect((await api('POST', `/api/jobs/${id}/start`)).body.job!.state).toBe('running');
    expect((await api('POST', `/api/jobs/${id}/start`)).body).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: 'Cannot start a job that is running' });
    expect((await api('POST', `/api/jobs/${id}/pause`)).body.job!.state).toBe('paused');
    expect((await api('POST', `/api/jobs/${id}/resume`)).body.job!.state).toBe('running');
    expect((await api('POST', `/api/jobs/${id}/stop`)).body.job!.state).toBe('stopped');
    expect((await api('POST', `/api/jobs/${id}/resume`)).status).toBe(409);
    expect((await api('DELETE', `/api/jobs/${id}`)).status).toBe(200);
    expect((await fetch(`${run.url}/api/jobs/${id}`)).status).toBe(404);
    expect((await api('POST', `/api/jobs/${id}/start`)).body.code).toBe(ErrorCode.NOT_FOUND);
  });

  it('a job whose parameters diverge fails, with its reason', async () => {
    const created = await api('POST', '/api/jobs', { spec: { model: 'mlp', name: 'diverge', normBound: 0, optimizer: { type: 'sgd', learningRate: 10 } } });
    const job = run.coordinator.jobs.get(created.body.job!.id)!;
    job.control('start');
    const payload = encodeTensors(job.assignment().tensors.map((t) => ({ ...t, values: Float32Array.from({ length: sizeOf(t.shape) }, (_, i) => (i % 2 ? 1e37 : -1e37)) })));
    // Finite gradients, accepted; the update overflows what the model can compute with.
    const leased = job.lease('w-test');
    if (!leased.ok || !leased.lease) throw new Error('no lease');
    const r = await job.push('w-test', { jobId: job.id, leaseId: leased.lease.leaseId, baseVersion: 0, batches: 1, loss: 1, ...payload });
    expect(r.ok).toBe(true);
    await job.evaluateIfChanged();
    const detail = (await (await fetch(`${run.url}/api/jobs/${job.id}`)).json()) as JobDetail;
    expect(detail.state).toBe('failed');
    expect(detail.failure).toMatch(/^diverged: test loss is NaN at version 1/);
    expect((await api('POST', `/api/jobs/${job.id}/resume`)).status).toBe(409);
  });

  it('pausing refuses pushes and moves the job\'s workers; resuming takes idle workers back', async () => {
    for (const j of run.coordinator.jobs.list()) if (j.id !== run.job.id && j.state === 'running') j.control('stop');
    const w = await connectTestWorker(run.url);
    const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest' });
    expect(hello.ok && hello.job?.jobId).toBe(run.job.id);
    const moved = waitForEvent<unknown>(w, 'job:assign');
    await api('POST', `/api/jobs/${run.job.id}/pause`);
    expect(await moved).toBeNull();
    const pull = await w.emitWithAck('params:pull', { jobId: run.job.id });
    expect(pull).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_JOB });
    const back = waitForEvent<{ jobId: string } | null>(w, 'job:assign');
    await api('POST', `/api/jobs/${run.job.id}/resume`);
    expect((await back)?.jobId).toBe(run.job.id);
    w.disconnect();
  });
});
