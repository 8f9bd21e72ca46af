/**
 * Each consistency mode trains: Node socket.io workers run the browser worker's own
 * ModelTrainer and exchange (createExchange picks it by the assigned mode) with real
 * tfjs gradients on real MNIST shards, against a real coordinator; the test loss of
 * the server's parameters falls and every push is accepted.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createExchange } from '../../client/engine/create-exchange.js';
import { ModelTrainer, type Batch } from '../../client/engine/model-trainer.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { decodeTensors } from '../../shared/codec.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import type { CoordinatorOptions } from '../coordinator.js';
import { joinAssigned, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running | null = null;
const sockets: TestWorker[] = [];

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

const join = (r: Running) => joinAssigned(r.url, sockets, 'vitest-mode-training');

/** Loss of the server's current parameters on a fixed batch. */
async function serverLoss(trainer: ModelTrainer, r: Running, probe: Batch): Promise<number> {
  const { payload } = r.job.store.payload();
  trainer.setParams(decodeTensors(payload, r.job.store.specs));
  return (await trainer.gradient(probe)).loss;
}

/**
 * One worker: `shards` leased shards through the mode's exchange, then it leaves (so a
 * sync round does not wait for a worker that has finished); returns each push's outcome.
 */
async function trainShards(r: Running, { w, job }: { w: TestWorker; job: JobAssignment }, shards: number): Promise<string[]> {
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  const outcomes: string[] = [];
  const exchange = createExchange(
    job,
    trainer,
    { push: (p) => w.emitWithAck('grads:push', p), pull: (req) => w.emitWithAck('params:pull', req) },
    { pushed: (res) => outcomes.push(res.ok ? 'ok' : res.code), pulled: () => {} },
  );
  try {
    await exchange.start();
    for (let s = 0; s < shards; s++) {
      const lease = await w.emitWithAck('shard:lease', { jobId: job.jobId });
      if (!lease.ok || !lease.lease) throw new Error('no lease');
      for (const batch of batchesOf(await fetchShard(r.url + lease.lease.url), job.batchSize, lease.lease)) await exchange.train(batch, lease.lease.leaseId);
      await exchange.flush();
      await w.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: lease.lease.leaseId });
    }
  } finally {
    exchange.dispose();
    trainer.dispose();
    w.disconnect();
  }
  return outcomes;
}

/** Every apply split over the apply pool, whatever the model's size. */
const POOL: CoordinatorOptions = { apply: { kernels: 'wasm', threads: 2, parallelFromParams: 0 } };

const cases: { label: string; spec: JobSpecInput; workers: number; options?: CoordinatorOptions }[] = [
  { label: 'async', spec: { mode: 'async' }, workers: 1 },
  { label: 'staleness-aware', spec: { mode: 'staleness-aware' }, workers: 1 },
  { label: 'sync, 2 workers', spec: { mode: 'sync' }, workers: 2 },
  { label: 'sync, 2 workers, 1 backup', spec: { mode: 'sync', backupWorkers: 1 }, workers: 2 },
  { label: 'local (DiLoCo), 2 workers, H = 5, inner SGD', spec: { mode: 'local', localSteps: 5, optimizer: { type: 'sgd', learningRate: 0.1 } }, workers: 2 },
  { label: 'async, Adam on the 2-thread apply pool', spec: { mode: 'async', optimizer: { type: 'adam', learningRate: 0.001 } }, workers: 1, options: POOL },
  { label: 'local (DiLoCo), Nesterov outer step on the 2-thread apply pool', spec: { mode: 'local', localSteps: 5, optimizer: { type: 'sgd', learningRate: 0.1 } }, workers: 2, options: POOL },
];

describe('every consistency mode trains with real tfjs gradients', () => {
  for (const c of cases) {
    it(`${c.label}: the loss falls`, async () => {
      const r = (run = await startCoordinator({ model: 'mlp', shardSize: 320, ...c.spec }, c.options));
      expect(r.job.store.engine).toMatchObject({ kernels: 'wasm', threads: c.options?.apply?.threads ?? 1 });
      const { job } = await join(r);
      const probeTrainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
      const lease = await sockets[0]!.emitWithAck('shard:lease', { jobId: job.jobId });
      if (!lease.ok || !lease.lease) throw new Error('no lease');
      const probe = [...batchesOf(await fetchShard(r.url + lease.lease.url), 256)][0]!;
      sockets.shift()!.disconnect(); // the probe socket leaves: it must not count in a sync quorum
      await expect.poll(() => r.job.workers.size, { timeout: 3000, interval: 10 }).toBe(0);
      const before = await serverLoss(probeTrainer, r, probe);

      // Every worker joins before any trains, so the first sync round waits for all of them.
      const workers = await Promise.all(Array.from({ length: c.workers }, () => join(r)));
      const outcomes = (await Promise.all(workers.map((w) => trainShards(r, w, 3)))).flat();
      const after = await serverLoss(probeTrainer, r, probe);
      probeTrainer.dispose();

      const refused = outcomes.filter((o) => o !== 'ok');
      // With a backup worker the slower one's gradient may miss its round: LATE, nothing else.
      if (c.spec.backupWorkers) expect(refused.every((o) => o === 'LATE')).toBe(true);
      else expect(refused).toEqual([]);
      expect(r.job.store.version).toBeGreaterThan(0);
      expect(after).toBeLessThan(before * 0.8);
    });
  }
});
