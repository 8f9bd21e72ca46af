/**
 * Parameter pulls as deltas against a real coordinator: a top-k job under SGD moves
 * only the entries its pushes carry, so a worker holding an older version is sent just
 * those, and applying them reproduces the server's parameters bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradientAccumulator } from '../../client/engine/gradient-accumulator.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { asBytes, codecOf, decodeTensors } from '../../shared/codec.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import { applyParamDelta } from '../../shared/param-delta.js';
import type { ParamsSnapshot } from '../../shared/protocol.js';
import { jobDetail } from '../jobs/job-detail.js';
import { connectTestWorker, joinAsTrainer, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const bitsOf = (values: Float32Array[]) => values.map((v) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)));

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

/** A worker that said hello but pulls by hand. */
async function observe(url: string): Promise<TestWorker> {
  const w = await connectTestWorker(url);
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest observer' });
  if (!hello.ok || !hello.job) throw new Error('the observer got no job');
  return w;
}

async function rawPull(w: TestWorker, jobId: string, have?: number): Promise<ParamsSnapshot> {
  const snap = await w.emitWithAck('params:pull', have === undefined ? { jobId } : { jobId, have });
  if (!snap.ok) throw new Error(snap.message);
  return snap;
}

/** Trains `steps` real top-k pushes through a trainer worker (which itself pulls deltas). */
async function pushSteps(run: Running, steps: number): Promise<void> {
  const joined = await joinAsTrainer(run.url);
  const { worker, job, trainer } = joined;
  try {
    const acc = new GradientAccumulator(job.tensors, codecOf(job));
    const lease = await worker.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    const batches = [...batchesOf(await fetchShard(run.url + lease.lease.url), job.batchSize, lease.lease)].slice(0, steps);
    for (const batch of batches) {
      const { version, values } = await joined.pull();
      trainer.setParams(values);
      const g = await trainer.gradient(batch);
      acc.add(g.grads, g.loss, batch.size);
      const ack = await worker.emitWithAck('grads:push', { jobId: job.jobId, leaseId: lease.lease.leaseId, baseVersion: version, batches: 1, loss: g.loss, ...acc.take() });
      if (!ack.ok) throw new Error(ack.message);
    }
  } finally {
    joined.close();
  }
}

describe('a top-k job under SGD', () => {
  let run: Running;
  let observer: TestWorker;
  beforeAll(async () => {
    run = await startCoordinator({ model: 'mlp', codec: 'topk', topkRatio: 0.01, optimizer: { type: 'sgd', learningRate: 0.1 }, shardSize: 640 });
    observer = await observe(run.url);
  });
  afterAll(async () => {
    observer?.disconnect();
    await run?.close();
  });

  it('sends a worker only what changed since its version, and it reconstructs the parameters exactly', async () => {
    const jobId = run.job.id;
    const v0 = await rawPull(observer, jobId);
    expect(v0.manifest.codec).toBe('fp32');
    const held = decodeTensors(v0, run.job.store.specs);
    await pushSteps(run, 3);
    expect(run.job.store.version).toBe(3);

    const delta = await rawPull(observer, jobId, v0.version);
    const full = await rawPull(observer, jobId);
    expect(delta.version).toBe(3);
    if (delta.manifest.codec !== 'delta') throw new Error(`expected a delta, got ${delta.manifest.codec}`);
    expect(delta.manifest.since).toBe(0);
    // Three pushes of 1 % of the entries each: a few percent of the model changed.
    expect(asBytes(delta.data).byteLength).toBeLessThan(asBytes(full.data).byteLength / 10);
    expect(asBytes(delta.data).byteLength).toBeGreaterThan(0);
    expect(applyParamDelta(delta.manifest, delta.data, held)).toBeNull();
    expect(bitsOf(held)).toEqual(bitsOf(decodeTensors(full, run.job.store.specs)));
    // The trainer worker pulled deltas too (its first pull was full).
    expect(run.job.stats.deltaPulls).toBeGreaterThanOrEqual(3);
    const detail = jobDetail(run.job, false);
    expect(detail.deltaPulls).toBe(run.job.stats.deltaPulls);
    expect(detail.bytesPerPull).toBeLessThan(run.job.store.parameterCount * 4);
  });

  it('sends everything when the worker names a version the server does not keep', async () => {
    const snap = await rawPull(observer, run.job.id, 999);
    expect(snap.manifest.codec).toBe('fp32');
    expect(snap.version).toBe(run.job.store.version);
  });

  it('answers an unchanged version with an empty delta', async () => {
    const now = await rawPull(observer, run.job.id);
    const again = await rawPull(observer, run.job.id, now.version);
    expect(again.manifest.codec).toBe('delta');
    expect(asBytes(again.data).byteLength).toBe(0);
  });

  it('refuses a malformed version with a coded error', async () => {
    for (const have of [-1, 1.5, '3', null]) {
      const r = await observer.emitWithAck('params:pull', { jobId: run.job.id, have } as never);
      expect(r).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    }
  });
});

describe.each<{ name: string; spec: JobSpecInput }>([
  { name: 'top-k under Adam (every entry moves)', spec: { codec: 'topk', optimizer: { type: 'adam', learningRate: 0.001 } } },
  { name: 'fp32 under Adagrad (dense gradients)', spec: { codec: 'fp32' } },
])('a job with dense updates: $name', ({ spec }) => {
  let run: Running;
  beforeAll(async () => {
    run = await startCoordinator({ model: 'mlp', shardSize: 640, ...spec });
  });
  afterAll(async () => run?.close());

  it('always sends the full parameters', async () => {
    await pushSteps(run, 2);
    const w = await observe(run.url);
    try {
      const snap = await rawPull(w, run.job.id, 1);
      expect(snap.manifest.codec).toBe('fp32');
      expect(run.job.stats.deltaPulls).toBe(0);
    } finally {
      w.disconnect();
    }
  });
});
