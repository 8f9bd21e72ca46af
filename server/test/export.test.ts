/**
 * The exported model loads with stock tf.loadLayersModel and scores, on the MNIST test
 * set, the accuracy the coordinator reported for the same version (within 0.1 pt).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { decodeTensors } from '../../shared/codec.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { loadMnist } from '../data/mnist.js';
import { joinAsTrainer, startCoordinator, type Running } from '../../test-support/index.js';

const TOKEN = 'export-token';
let run: Running;

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN });
});
afterAll(async () => run?.close());

it('downloads a model that reproduces the reported test accuracy', async () => {
  const joined = await joinAsTrainer(run.url);
  const { worker: w, job, trainer } = joined;
  const refusals: string[] = [];
  for (let s = 0; s < 3; s++) {
    const lease = await w.emitWithAck('shard:lease', { jobId: job.jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    for (const batch of batchesOf(await fetchShard(run.url + lease.lease.url), job.batchSize, lease.lease)) {
      const snap = await w.emitWithAck('params:pull', { jobId: job.jobId });
      if (!snap.ok) throw new Error(snap.message);
      trainer.setParams(decodeTensors(snap, job.tensors));
      const g = await trainer.gradient(batch);
      const payload = encodeTensors(job.tensors.map((t, i) => ({ ...t, values: g.grads[i]! })));
      const r = await w.emitWithAck('grads:push', { jobId: job.jobId, leaseId: lease.lease.leaseId, baseVersion: snap.version, batches: 1, loss: g.loss, ...payload });
      if (!r.ok) refusals.push(r.code);
    }
    expect(await w.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: lease.lease.leaseId })).toMatchObject({ ok: true });
  }
  joined.close();
  const reported = (await run.job.evaluateIfChanged())!;
  expect(reported.version).toBe(run.job.store.version);
  expect(refusals).toEqual([]);
  expect(reported.accuracy).toBeGreaterThan(0.5); // well above chance (0.1): the comparison below means something

  const model = await tf.loadLayersModel(`${run.url}/api/jobs/${run.job.id}/model`, {
    requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
  });
  const test = loadMnist().test;
  let correct = 0;
  for (let start = 0; start < test.count; start += 500) {
    const n = Math.min(500, test.count - start);
    const probs = tf.tidy(() => {
      const x = tf.tensor(test.features.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]).div(255);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < n; i++) if (probs[i] === test.labels[start + i]) correct++;
  }
  const accuracy = correct / test.count;
  expect(Math.abs(accuracy - reported.accuracy), `exported ${accuracy}, reported ${reported.accuracy}`).toBeLessThanOrEqual(0.001);
  model.dispose();
});
