/**
 * A real coordinator on port 0 and a socket.io-client worker in Node that computes
 * real gradients with tfjs (the browser worker's own ModelTrainer), on real MNIST shards
 * downloaded over HTTP.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { ModelTrainer } from '../../client/engine/model-trainer.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { connectTestWorker, joinAsTrainer, startCoordinator, type TrainingWorker, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
let worker: TestWorker;
let job: JobAssignment;
let trainer: ModelTrainer;
let joined: TrainingWorker;

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  run = await startCoordinator({ model: 'mlp', maxStaleness: 4 });
  joined = await joinAsTrainer(run.url);
  ({ worker, job, trainer } = joined);
});

afterAll(async () => {
  joined?.close();
  await run?.close();
});

describe('Downpour training through the parameter server', () => {
  it('assigns the job with its model, tensors and data description', () => {
    expect(job.jobId).toBe(run.job.id);
    expect(job.tensors.map((t) => t.name)).toEqual(['dense1/kernel', 'dense1/bias', 'output/kernel', 'output/bias']);
    expect(job.tensors[0]!.shape).toEqual([784, 128]);
    expect(job.dataset).toEqual({ name: 'mnist', featureShape: [28, 28, 1], numClasses: 10 });
  });

  it('serves a leased shard over HTTP at an immutable, content-addressed URL', async () => {
    const lease = await worker.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    expect(lease.lease.url).toMatch(/^\/shards\/[0-9a-f]{64}\.bin$/);
    const res = await fetch(run.url + lease.lease.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await res.arrayBuffer(); // read to its end: a body left unread keeps its connection busy
    const again = await fetch(run.url + lease.lease.url, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(run.url + '/shards/../package.json')).status).toBe(404);
    expect((await fetch(run.url + '/shards/' + 'a'.repeat(64) + '.bin')).status).toBe(404);
    const done = await worker.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: lease.lease.leaseId });
    expect(done).toEqual({ ok: true, epoch: 0, epochDone: false });
  });

  it('applies real gradients: the version advances, parameters move only on accepted pushes, loss falls', async () => {
    const lease = await worker.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    const shard = await fetchShard(run.url + lease.lease.url);
    const batches = [...batchesOf(shard, job.batchSize, lease.lease)];
    // The lease's last batch is the probe; the others are pushed in the lease's order, as the PS counts them.
    const probe = batches.at(-1)!;

    let { version, values } = await joined.pull();
    trainer.setParams(values);
    const lossBefore = (await trainer.gradient(probe)).loss;

    for (const batch of batches.slice(0, -1)) {
      trainer.setParams(values);
      const g = await trainer.gradient(batch);
      const payload = encodeTensors(job.tensors.map((t, i) => ({ ...t, values: g.grads[i]! })));
      const ack = await worker.emitWithAck('grads:push', {
        jobId: job.jobId, leaseId: lease.lease.leaseId, baseVersion: version, batches: 1, loss: g.loss, ...payload,
      });
      expect(ack).toEqual({ ok: true, version: version + 1, staleness: 0 });
      const next = await joined.pull();
      expect(next.version).toBe(version + 1);
      expect(next.values[0]).not.toEqual(values[0]);
      ({ version, values } = next);
    }
    trainer.setParams(values);
    const lossAfter = (await trainer.gradient(probe)).loss;
    expect(lossAfter).toBeLessThan(lossBefore * 0.7);
    expect(run.job.stats.pushesAccepted).toBe(batches.length - 1);
    // Counted by the PS from the lease's batches, not from anything the worker said.
    expect(run.job.stats.examplesSeen).toBe(shard.count - probe.size);
  });

  it('serves pages with a Content-Security-Policy and the usual security headers, never COOP/COEP', async () => {
    for (const path of ['/', '/dashboard', '/api/health']) {
      const res = await fetch(run.url + path);
      expect(res.headers.get('content-security-policy'), path).toMatch(/default-src 'self'.*script-src 'self' 'wasm-unsafe-eval'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('cross-origin-opener-policy')).toBeNull();
      expect(res.headers.get('cross-origin-embedder-policy')).toBeNull();
    }
  });

  it('reports jobs on the read-only API', async () => {
    expect(await (await fetch(run.url + '/api/health')).json()).toEqual({ ok: true });
    const jobs = (await (await fetch(run.url + '/api/jobs')).json()) as Record<string, unknown>[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ id: job.jobId, state: 'running', model: 'mlp', dataset: 'mnist', workers: 1, epoch: 0, lastEval: null });
    expect(jobs[0]!.version).toBe(run.job.version);
    expect(jobs[0]!.examplesSeen).toBe(run.job.stats.examplesSeen);
  });

  it('records an evaluation of the trained parameters on the 10k test set', async () => {
    const rec = await run.job.evaluateIfChanged();
    expect(rec).not.toBeNull();
    expect(rec!.version).toBe(run.job.version);
    expect(rec!.accuracy).toBeGreaterThan(0.6); // ~15 Adagrad steps from ~0.1 at random
    expect(rec!.loss).toBeGreaterThan(0);
    const jobs = (await (await fetch(run.url + '/api/jobs')).json()) as { lastEval: { accuracy: number } }[];
    expect(jobs[0]!.lastEval.accuracy).toBe(rec!.accuracy);
  });

  it('exposes Prometheus metrics of pushes, versions, bytes and the last evaluation', async () => {
    const text = await (await fetch(run.url + '/metrics')).text();
    const id = run.job.id;
    expect(text).toContain(`downpour_pushes_total{job="${id}",result="accepted"} ${run.job.stats.pushesAccepted}`);
    expect(text).toContain(`downpour_job_version{job="${id}"} ${run.job.version}`);
    expect(text).toContain(`downpour_bytes_in_total{job="${id}"} ${run.job.stats.bytesIn}`);
    expect(text).toMatch(new RegExp(`downpour_eval_accuracy\\{job="${id}"\\} 0\\.\\d+`));
    expect(text).toMatch(/^downpour_workers 1$/m);
  });

  it('returns a departed worker\'s leases to the queue', async () => {
    const other = await connectTestWorker(run.url);
    await other.emitWithAck('worker:hello', { userAgent: 'vitest-2' });
    const before = run.job.ledger.activeLeases;
    const l = await other.emitWithAck('shard:lease', { jobId: job.jobId });
    expect(l.ok && l.lease).toBeTruthy();
    expect(run.job.ledger.activeLeases).toBe(before + 1);
    other.disconnect();
    await expect.poll(() => run.job.ledger.activeLeases).toBe(before);
  });
});
