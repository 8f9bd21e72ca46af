/**
 * The exported model loads with stock tf.loadLayersModel and scores, on the MNIST test
 * set, the accuracy the coordinator reported for the same version (within 0.1 pt); the
 * dashboard's zip unpacks to a folder that loads the same way and whose model.json
 * metadata says how to feed the model.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { decodeTensors } from '../../shared/codec.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { loadMnist } from '../data/mnist.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelMetadata } from '../http/model-export.js';
import { joinAsTrainer, startCoordinator, unzip, type Running } from '../../test-support/index.js';

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
  const accuracy = accuracyOf(model, 255);
  expect(Math.abs(accuracy - reported.accuracy), `exported ${accuracy}, reported ${reported.accuracy}`).toBeLessThanOrEqual(0.001);
  model.dispose();

  // The dashboard's download: one zip whose folder holds model.json, weights.bin and a README.
  const res = await fetch(`${run.url}/api/jobs/${run.job.id}/model.zip`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/zip');
  const base = `mnist-digits-${run.job.id}-v${run.job.store.version}`;
  expect(res.headers.get('content-disposition')).toBe(`attachment; filename=${base}.zip`);
  const files = unzip(Buffer.from(await res.arrayBuffer()));
  expect([...files.keys()]).toEqual([`${base}/model.json`, `${base}/weights.bin`, `${base}/README.txt`]);
  const json = JSON.parse(files.get(`${base}/model.json`)!.toString('utf8')) as { weightsManifest: { paths: string[] }[] };
  expect(json.weightsManifest[0]!.paths).toEqual(['weights.bin']);
  expect(files.get(`${base}/README.txt`)!.toString('utf8')).toMatch(/divided by 255/);

  // Unpacked and served as a user would serve it, stock tf.loadLayersModel finds the weights beside model.json.
  const folder = createServer((req, reply) => {
    const file = files.get(`${base}${req.url}`);
    if (!file) return void reply.writeHead(404).end();
    reply.writeHead(200).end(file);
  });
  await new Promise<void>((resolve) => folder.listen(0, '127.0.0.1', resolve));
  try {
    const unpacked = await tf.loadLayersModel(`http://127.0.0.1:${(folder.address() as AddressInfo).port}/model.json`);
    const meta = unpacked.getUserDefinedMetadata() as ModelMetadata;
    expect(meta).toMatchObject({
      jobId: run.job.id,
      version: run.job.store.version,
      dataset: 'mnist',
      inputShape: [28, 28, 1],
      inputScaling: { divideBy: 255 },
      classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      testAccuracy: reported.accuracy,
      evaluatedVersion: run.job.store.version,
      testExamples: 10_000,
    });
    expect(accuracyOf(unpacked, meta.inputScaling.divideBy)).toBe(accuracy);
    unpacked.dispose();
  } finally {
    await new Promise((resolve) => folder.close(resolve));
  }
});

it('names the classes and the scaling of a dataset with its own class names and float features', async () => {
  const created = await run.coordinator.createJob({ model: 'mlp', dataset: 'iris' }, { start: false });
  if (!created.ok) throw new Error(created.message);
  const res = await fetch(`${run.url}/api/jobs/${created.job.id}/model`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const meta = ((await res.json()) as { userDefinedMetadata: ModelMetadata }).userDefinedMetadata;
  expect(meta).toMatchObject({ dataset: 'iris', jobName: 'Iris flowers', inputShape: [4], inputScaling: { divideBy: 1 }, testAccuracy: null });
  expect(meta.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
});

function accuracyOf(model: tf.LayersModel, divideBy: number): number {
  const test = loadMnist().test;
  let correct = 0;
  for (let start = 0; start < test.count; start += 500) {
    const n = Math.min(500, test.count - start);
    const probs = tf.tidy(() => {
      const x = tf.tensor(test.features.subarray(start * 784, (start + n) * 784), [n, 28, 28, 1]).div(divideBy);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < n; i++) if (probs[i] === test.labels[start + i]) correct++;
  }
  return correct / test.count;
}
