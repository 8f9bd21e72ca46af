/**
 * Worker churn on a real coordinator: three forked Node workers (bench/node-worker.ts,
 * real tfjs-wasm training) train a one-epoch job; one of them is SIGKILLed midway
 * through a lease and a replacement joins. Counted by the coordinator from its leases,
 * every example of every shard must then have been accepted exactly once in the epoch:
 * the victim's pushed batches kept, its unpushed ones trained by another worker, none
 * lost and none credited twice.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { WorkerPool } from '../../bench/worker-pool.js';
import { HEAP_NODE_FLAGS } from '../heap-flags.js';
import type { Lease } from '../data/shard-ledger.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

let run: Running;
let pool: WorkerPool;
beforeAll(async () => {
  // shardSize 2000 → 30 shards of 32 batches; a long lease so only the disconnect can bring the victim's batches back.
  run = await startCoordinator({ model: 'mlp', shardSize: 2000, epochs: 1, leaseSeconds: 600 });
  pool = new WorkerPool(run.url);
});
afterAll(async () => {
  await pool?.close();
  await run?.close();
});

// Generous bounds for a loaded 2-core machine; nothing here asserts on time.
const WAIT = { timeout: 240_000, interval: 100 };

it('accepts every example of the epoch exactly once when a worker is killed midway through a lease', { timeout: 420_000 }, async () => {
  const { job } = run;
  const sizes = job.ledger.shardSizes;
  expect(sizes).toHaveLength(30);
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(60_000);
  await Promise.all([pool.start(), pool.start(), pool.start()]);
  // Forked with the heap flags (heap-flags.ts) the benches' workers run with.
  const argv = readFileSync(`/proc/${pool.workers[0]!.child.pid}/cmdline`, 'utf8').split('\0');
  for (const flag of HEAP_NODE_FLAGS) expect(argv).toContain(flag);

  // Mid-epoch, and the victim midway through a lease: some of its batches in, some not.
  const midway = (l: Lease) => l.cursor > l.from && l.cursor < l.to;
  const victim = await vi.waitFor(() => {
    const done = job.ledger.examples[0]?.filter((n, s) => n === sizes[s]).length ?? 0;
    const holder = pool.alive().find((w) => w.workerId && job.ledger.leasesOf(w.workerId).some(midway));
    if (done < 3 || !holder) throw new Error(`not mid-epoch yet (${done} shards done)`);
    return holder;
  }, WAIT);
  pool.kill(victim);
  expect(await victim.exited).toBeNull(); // killed by the signal, not exited
  await pool.start();

  await vi.waitFor(() => expect(job.state).toBe('done'), WAIT);
  // The coordinator's own count, from its leases' batches and the shard sizes.
  expect(job.ledger.examples).toEqual([sizes]);
  // And the accepted pushes', counted as each push was answered.
  expect(job.stats.examplesSeen).toBe(60_000);
  expect(job.ledger.epochsCompleted).toBe(1);
  expect(job.ledger.activeLeases).toBe(0);
  // Workers leave by themselves once the job is done (job:assign null).
  const survivors = pool.workers.filter((w) => !w.killed);
  expect(await Promise.all(survivors.map((w) => w.exited))).toEqual(survivors.map(() => 0));
});
