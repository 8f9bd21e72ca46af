/**
 * Worker churn on a real coordinator: three forked Node workers (bench/node-worker.ts,
 * real tfjs-wasm training) train a one-epoch job; one of them is SIGKILLed while it
 * holds a lease and a replacement joins. The ledger must show every shard of the epoch
 * completed and no lease left behind.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { WorkerPool, type PooledWorker } from '../../bench/worker-pool.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

let run: Running;
let pool: WorkerPool;
beforeAll(async () => {
  // shardSize 2000 → 30 shards; a long lease so only the disconnect can bring the killed shard back.
  run = await startCoordinator({ model: 'mlp', shardSize: 2000, epochs: 1, leaseSeconds: 600 });
  pool = new WorkerPool(run.url);
});
afterAll(async () => {
  await pool?.close();
  await run?.close();
});

// Generous bounds for a loaded 2-core machine; nothing here asserts on time.
const WAIT = { timeout: 90_000, interval: 100 };

it('completes every shard of the epoch when a worker is killed mid-epoch', { timeout: 180_000 }, async () => {
  const { job } = run;
  expect(job.ledger.history[0] ?? new Array(30).fill(0)).toHaveLength(30);
  await Promise.all([pool.start(), pool.start(), pool.start()]);

  // Mid-epoch: some shards done, and the victim holds a lease that must come back.
  const leased = (w: PooledWorker) => !!w.workerId && job.ledger.leaseTable().has(w.workerId);
  const victim = await vi.waitFor(() => {
    const done = job.ledger.history[0]!.filter((c) => c > 0).length;
    const holder = pool.alive().find(leased);
    if (done < 3 || !holder) throw new Error(`not mid-epoch yet (${done} shards done)`);
    return holder;
  }, WAIT);
  const heldShards = job.ledger.leaseTable().get(victim.workerId!)!.map((l) => l.shardIndex);
  pool.kill(victim);
  expect(await victim.exited).toBeNull(); // killed by the signal, not exited
  await pool.start();

  await vi.waitFor(() => expect(job.state).toBe('done'), WAIT);
  const history = job.ledger.history[0]!;
  expect(history.filter((c) => c === 0)).toEqual([]);
  for (const s of heldShards) expect(history[s]).toBeGreaterThanOrEqual(1);
  expect(job.ledger.epochsCompleted).toBe(1);
  expect(job.ledger.activeLeases).toBe(0);
  // Workers leave by themselves once the job is done (job:assign null).
  const survivors = pool.workers.filter((w) => !w.killed);
  expect(await Promise.all(survivors.map((w) => w.exited))).toEqual(survivors.map(() => 0));
});
