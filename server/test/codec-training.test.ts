/**
 * Compressed gradients end to end: a real coordinator whose job uses a lossy codec, and
 * a socket.io-client worker in Node that computes real tfjs gradients (the browser
 * worker's ModelTrainer) and encodes them with the browser worker's GradientAccumulator,
 * error feedback included.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecOf } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { GradientAccumulator } from '../../client/engine/gradient-accumulator.js';
import { ModelTrainer } from '../../client/engine/model-trainer.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { joinAsTrainer, startCoordinator, type Running, type TestWorker, type TrainingWorker } from '../../test-support/index.js';

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

describe.each([
  { codec: 'topk', topkRatio: 0.01, minRatio: 40 },
  { codec: 'int8', topkRatio: 0.01, minRatio: 3.9 },
] as const)('a $codec job trains on real gradients', ({ codec, topkRatio, minRatio }) => {
  let run: Running;
  let worker: TestWorker;
  let job: JobAssignment;
  let trainer: ModelTrainer;
  let joined: TrainingWorker;

  beforeAll(async () => {
    // Shards of 2000 examples: one lease of 32 batches gives the 31 pushes and the probe.
    run = await startCoordinator({ model: 'mlp', codec, topkRatio, maxStaleness: 4, shardSize: 2000 });
    joined = await joinAsTrainer(run.url);
    ({ worker, job, trainer } = joined);
  });

  afterAll(async () => {
    joined?.close();
    await run?.close();
  });

  it('assigns the codec and its ratio, accepts every encoded push, and the loss falls', async () => {
    expect(job).toMatchObject({ codec, topkRatio });
    const acc = new GradientAccumulator(job.tensors, codecOf(job));
    const lease = await worker.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    const shard = await fetchShard(run.url + lease.lease.url);
    const batches = [...batchesOf(shard, job.batchSize, lease.lease)];
    const probe = batches.at(-1)!;

    let { version, values } = await joined.pull();
    trainer.setParams(values);
    const lossBefore = (await trainer.gradient(probe)).loss;
    // 31 pushes: a top-k worker moves 1 % of the weights per push.
    const steps = batches.slice(0, -1);
    for (const batch of steps) {
      trainer.setParams(values);
      const g = await trainer.gradient(batch);
      acc.add(g.grads, g.loss, batch.size);
      const payload = acc.take();
      expect(payload.manifest.codec).toBe(codec);
      const ack = await worker.emitWithAck('grads:push', {
        jobId: job.jobId, leaseId: lease.lease.leaseId, baseVersion: version, batches: 1, loss: g.loss, ...payload,
      });
      expect(ack).toEqual({ ok: true, version: version + 1, staleness: 0 });
      ({ version, values } = await joined.pull());
    }
    trainer.setParams(values);
    const lossAfter = (await trainer.gradient(probe)).loss;
    expect(lossAfter).toBeLessThan(lossBefore * 0.7);
    expect(run.job.stats.pushesAccepted).toBe(steps.length);
    expect(run.job.stats.pushesRejected).toEqual({});
  });

  it(`counts fp32-equivalent bytes: compression ratio ≥ ${minRatio}, also on /metrics`, async () => {
    const { bytesIn, rawBytesIn } = run.job.stats;
    expect(rawBytesIn).toBe(run.job.stats.pushesAccepted * run.job.store.parameterCount * 4);
    expect(rawBytesIn / bytesIn).toBeGreaterThanOrEqual(minRatio);
    const text = await (await fetch(run.url + '/metrics')).text();
    const m = new RegExp(`downpour_gradient_compression_ratio\\{job="${run.job.id}"\\} ([0-9.]+)`).exec(text);
    expect(Number(m?.[1])).toBeCloseTo(rawBytesIn / bytesIn, 6);
  });
});
