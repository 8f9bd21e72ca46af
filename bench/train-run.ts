/**
 * One training run for the benchmarks that compare final accuracies: a coordinator on
 * port 0 with one job, forked Node workers (bench/node-worker.ts) until the job is
 * done, then the job's evaluation on the 10k test set and each worker's last report.
 */
import { createCoordinator } from '../server/coordinator.js';
import type { Job } from '../server/jobs/job.js';
import type { JobSpecInput } from '../shared/job-spec.js';
import type { NodeWorkerProgress } from './node-worker.js';
import { WorkerPool } from './worker-pool.js';

export interface RunResult {
  job: Job;
  accuracy: number;
  /** Test loss at the end (tells apart runs whose accuracies happen to tie). */
  loss: number;
  seconds: number;
  /** Each worker's last progress report, in start order (null: it never sent one). */
  workers: (NodeWorkerProgress | null)[];
}

/** How long workers get to leave by themselves (job:assign null) once the job is done. */
const EXIT_GRACE_MS = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `workerArgs(i)`: extra node-worker flags for worker i (e.g. --byzantine). */
export async function trainToEnd(
  spec: JobSpecInput,
  workers: number,
  workerArgs: (i: number) => string[] = () => [],
  onStarted?: () => void,
): Promise<RunResult> {
  const coordinator = createCoordinator();
  // No periodic evaluation: it would compete with the workers for the CPU.
  const created = await coordinator.createJob({ evalIntervalSeconds: 86_400, ...spec });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const pool = new WorkerPool(url.replace(/\/$/, ''));
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: workers }, (_, i) => pool.start(workerArgs(i))));
    onStarted?.();
    while (job.state === 'running') {
      // Every worker gone (disconnected, crashed) leaves a job that can never end: say so rather than wait forever.
      if (pool.alive().length === 0) throw new Error(`run "${job.spec.name}": every worker exited while the job was still running (${job.stats.examplesSeen} examples accepted)`);
      await sleep(250);
    }
    const seconds = (Date.now() - started) / 1000;
    if (job.state !== 'done') throw new Error(`run "${job.spec.name}" ended ${job.state}: ${job.failure}`);
    const evaluated = await job.evaluateIfChanged();
    if (!evaluated) throw new Error(`run "${job.spec.name}" could not be evaluated`);
    // Their exit report carries their final counts (e.g. the longest wait for a lease, up to the job's end).
    await Promise.race([Promise.all(pool.workers.map((w) => w.exited)), sleep(EXIT_GRACE_MS)]);
    const reports = pool.workers.map((w) => w.progress);
    return { job, accuracy: evaluated.accuracy, loss: evaluated.loss, seconds: Math.round(seconds * 10) / 10, workers: reports };
  } finally {
    await pool.close();
    await coordinator.close();
  }
}
