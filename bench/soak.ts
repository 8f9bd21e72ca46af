/**
 * soak: Node workers (bench/node-worker.ts) train the `mlp` against one coordinator for
 * a long time (a job with more epochs than can finish). Samples the coordinator's RSS
 * every 10 s and each worker's tf.memory().numTensors (reported over IPC) to show that
 * neither side grows with time.
 *
 * RSS is measured from the end of a warm-up period, not from start-up: the first
 * minute fills V8's heap to its working size, loads the evaluation thread's wasm and
 * test set, caches every shard and grows socket buffers to the push size. Counting
 * that as growth would hide a real leak behind a one-time cost.
 */
import { Command, InvalidArgumentError } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { WorkerPool } from './worker-pool.js';

interface Options {
  minutes: number;
  workers: number;
  warmup: number;
}

const SAMPLE_MS = 10_000;

const log = (msg: string) => process.stderr.write(`[soak] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = () => Math.round((process.memoryUsage().rss / 1e6) * 10) / 10;

async function run(o: Options): Promise<void> {
  if (o.warmup >= o.minutes * 60) throw new InvalidArgumentError(`--warmup (${o.warmup} s) must be shorter than --minutes (${o.minutes * 60} s)`);
  setLogLevel('warn');
  const coordinator = createCoordinator();
  // More epochs than the run can finish. Evaluation stays on (every 30 s, in-process thread) so its memory is measured too.
  const created = await coordinator.createJob({ name: 'soak', model: 'mlp', epochs: 10_000, evalIntervalSeconds: 30 });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const pool = new WorkerPool(url.replace(/\/$/, ''));
  try {
    await Promise.all(Array.from({ length: o.workers }, () => pool.start()));
    const started = Date.now();
    const end = started + o.minutes * 60_000;
    const tensors = () => pool.workers.map((w) => w.progress?.numTensors ?? null);
    let rssStart: number | null = null;
    let tensorsStart: (number | null)[] = [];
    let pushesStart = 0;
    const samples: { s: number; rssMb: number }[] = [];
    while (Date.now() < end) {
      await sleep(Math.min(SAMPLE_MS, end - Date.now()));
      const s = Math.round((Date.now() - started) / 1000);
      samples.push({ s, rssMb: rssMb() });
      if (rssStart === null && s >= o.warmup) {
        rssStart = rssMb();
        tensorsStart = tensors();
        pushesStart = job.stats.pushesAccepted;
      }
      log(`${s} s: rss ${rssMb()} MB, version ${job.version}, epoch ${job.ledger.epochsCompleted}, tensors ${JSON.stringify(tensors())}`);
      if (pool.alive().length < o.workers) throw new Error(`a worker died: ${pool.alive().length} of ${o.workers} left`);
    }
    const rssEnd = rssMb();
    const tensorsEnd = tensors();
    process.stdout.write(
      JSON.stringify({
        bench: 'soak',
        minutes: o.minutes,
        workers: o.workers,
        warmup_s: o.warmup,
        rss_start_mb: rssStart,
        rss_end_mb: rssEnd,
        rss_growth_pct: rssStart ? Math.round(((rssEnd - rssStart) / rssStart) * 1000) / 10 : null,
        rss_max_mb: Math.max(...samples.filter((x) => x.s >= o.warmup).map((x) => x.rssMb)),
        worker_tensors_start: tensorsStart,
        worker_tensors_end: tensorsEnd,
        pushes: job.stats.pushesAccepted - pushesStart,
        pushes_total: job.stats.pushesAccepted,
        epochs_completed: job.ledger.epochsCompleted,
      }) + '\n',
    );
  } finally {
    await pool.close();
    await coordinator.close();
  }
}

export function soakCommand(): Command {
  return new Command('soak')
    .description('Node workers train the mlp for a long time; coordinator RSS and worker tensor counts over time')
    .option('--minutes <m>', 'duration of the run', number(1, 24 * 60), 30)
    .option('--workers <n>', 'Node worker processes', integer(1, 64), 8)
    .option('--warmup <s>', 'seconds before RSS and tensors are first taken', number(0, 24 * 3600), 60)
    .action((o: Options) => run(o));
}
