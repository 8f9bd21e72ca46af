/**
 * The worker's pipelined Downpour exchange against a real coordinator: pushes carry the
 * version their gradient was computed on, so the PS measures the one version of
 * staleness that overlapping the round trip with computation costs.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AsyncExchange } from '../../client/engine/async-exchange.js';
import { batchesOf, fetchShard } from '../../client/engine/shard-data.js';
import { joinAsTrainer, startCoordinator, type Running } from '../../test-support/index.js';

let run: Running;
beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  run = await startCoordinator({ model: 'mlp', shardSize: 640 });
});
afterAll(async () => run?.close());

it('stamps each push with the version its gradient was computed on', async () => {
  const joined = await joinAsTrainer(run.url);
  const { worker: w, job, trainer } = joined;
  const results: boolean[] = [];
  const exchange = new AsyncExchange(
    job,
    trainer,
    { push: (p) => w.emitWithAck('grads:push', p), pull: (req) => w.emitWithAck('params:pull', req) },
    { pushed: (r) => results.push(r.ok), pulled: () => {} },
  );
  await exchange.start();
  const lease = await w.emitWithAck('shard:lease', { jobId: job.jobId });
  if (!lease.ok || !lease.lease) throw new Error('no lease');
  for (const batch of batchesOf(await fetchShard(run.url + lease.lease.url), job.batchSize, lease.lease)) {
    await exchange.train(batch, lease.lease.leaseId);
  }
  await exchange.flush();
  joined.close();

  expect(results).toEqual(new Array(10).fill(true));
  // First push: computed on v0 with the server at v0. Every later one: one version behind.
  expect(run.job.stats.staleness).toEqual({ 0: 1, 1: 9 });
  expect(run.job.store.version).toBe(10);
});
