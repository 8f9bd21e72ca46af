/**
 * modes: each consistency mode with 1, 2, 4, 8 simulated workers on MNIST `mlp`.
 * Workers are in-process Node socket.io clients driving the browser worker's own
 * ModelTrainer and exchange (createExchange) on tfjs wasm against a real coordinator
 * on port 0; they share one tfjs (one thread), so more workers add asynchrony and
 * rounds, not compute. Reports the test accuracy after the budget (epochs) and the
 * time until the coordinator's periodic evaluation first reached the target.
 */
import { Command, InvalidArgumentError } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { createExchange } from '../client/engine/create-exchange.js';
import { ModelTrainer } from '../client/engine/model-trainer.js';
import { fetchShard } from '../client/engine/shard-data.js';
import { LostLeases, runShardLoop } from '../client/engine/shard-loop.js';
import type { JobSpecInput } from '../shared/job-spec.js';
import { CONSISTENCY_MODES } from '../shared/modes.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { initNodeTf } from '../server/tf-node.js';
import { connectTestWorker } from '../test-support/index.js';
import { SlotPusher } from '../shared/slot-pusher.js';

/** A row of the benchmark: a mode name plus its parameters. */
const VARIANTS: Record<string, JobSpecInput> = {
  async: { mode: 'async' },
  'staleness-aware': { mode: 'staleness-aware' },
  sync: { mode: 'sync', backupWorkers: 0 },
  'sync-b1': { mode: 'sync', backupWorkers: 1 },
  local: { mode: 'local' },
};

interface Options {
  workers: number[];
  modes: string[];
  epochs: number;
  target: number;
  evalInterval: number;
}

interface Row {
  mode: string;
  workers: number;
  accuracy: number;
  seconds_to_target: number | null;
  seconds: number;
  versions: number;
  refused: Record<string, number>;
}

const log = (msg: string) => process.stderr.write(`[modes] ${msg}\n`);

/** One worker until the job stops running (refused pushes' batches come back to the queue until the very end). */
async function worker(url: string, running: () => boolean): Promise<void> {
  const w = await connectTestWorker(url);
  try {
    const hello = await w.emitWithAck('worker:hello', { userAgent: 'bench-modes' });
    if (!hello.ok || !hello.job) throw new Error('no assignment');
    const job = hello.job;
    const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
    const lost = new LostLeases();
    const slots = new SlotPusher();
    const exchange = createExchange(
      job,
      trainer,
      { push: (p) => slots.push(p, { ask: (req) => w.emitWithAck('grads:slot', req), send: (q) => w.emitWithAck('grads:push', q) }), pull: (req) => w.emitWithAck('params:pull', req) },
      { pushed: (r, sent) => lost.pushed(r, sent), pulled: () => {} },
    );
    try {
      await exchange.start();
      await runShardLoop({
        job,
        exchange,
        lost,
        lease: () => w.emitWithAck('shard:lease', { jobId: job.jobId }),
        complete: (leaseId) => w.emitWithAck('shard:complete', { jobId: job.jobId, leaseId }),
        fetchShard: (shardUrl) => fetchShard(url + shardUrl),
        stillAssigned: running,
        retryMs: 100,
      });
    } finally {
      exchange.dispose();
      trainer.dispose();
    }
  } finally {
    w.disconnect();
  }
}

async function runOne(variant: string, workers: number, o: Options): Promise<Row> {
  const coordinator = createCoordinator();
  const created = await coordinator.createJob({ name: `modes ${variant}`, model: 'mlp', epochs: o.epochs, evalIntervalSeconds: o.evalInterval, ...VARIANTS[variant] });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { port } = await coordinator.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: workers }, () => worker(url, () => job.state === 'running')));
    const seconds = (Date.now() - started) / 1000;
    const final = await job.evaluateIfChanged();
    const hit = job.evals.find((e) => e.accuracy >= o.target);
    const row: Row = {
      mode: variant,
      workers,
      accuracy: +(final?.accuracy ?? job.evals.at(-1)?.accuracy ?? 0).toFixed(4),
      seconds_to_target: hit ? +((hit.at - started) / 1000).toFixed(1) : null,
      seconds: +seconds.toFixed(1),
      versions: job.version,
      refused: { ...job.stats.pushesRejected } as Record<string, number>,
    };
    log(JSON.stringify(row));
    return row;
  } finally {
    await coordinator.close();
  }
}

async function run(o: Options): Promise<void> {
  setLogLevel('error');
  const backend = await initNodeTf('wasm');
  log(`tfjs backend ${backend}; modes ${o.modes.join(',')}; workers ${o.workers.join(',')}; ${o.epochs} epoch(s)`);
  const results: Row[] = [];
  for (const m of o.modes) for (const n of o.workers) results.push(await runOne(m, n, o));
  const target = Math.round(o.target * 100);
  const out = results.map(({ seconds_to_target, ...r }) => ({ ...r, [`seconds_to_${target}`]: seconds_to_target }));
  process.stdout.write(`${JSON.stringify({ bench: 'modes', model: 'mlp', backend, epochs: o.epochs, results: out })}\n`);
}

const list = (allowed: readonly string[] | null) => (v: string) => {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (allowed && !allowed.includes(i)) throw new InvalidArgumentError(`expected some of ${allowed.join(', ')}`);
  return items;
};
const ints = (v: string) =>
  list(null)(v).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('expected worker counts from 1 to 64');
    return n;
  });

export function modesCommand(): Command {
  return new Command('modes')
    .description(`consistency modes (${CONSISTENCY_MODES.join(', ')}; sync also with 1 backup worker) × simulated workers on MNIST mlp`)
    .option('--modes <list>', 'comma-separated: async, staleness-aware, sync, sync-b1, local', list(Object.keys(VARIANTS)), Object.keys(VARIANTS))
    .option('--workers <list>', 'comma-separated worker counts', ints, [1, 2, 4, 8])
    .option('--epochs <n>', 'training budget in epochs', integer(1, 1000), 1)
    .option('--target <accuracy>', 'accuracy whose first time is reported', number(0, 1), 0.97)
    .option('--eval-interval <seconds>', 'evaluation period while training', number(0.1, 3600), 3)
    .action((o: Options) => run(o));
}
