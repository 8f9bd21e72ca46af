/**
 * byzantine: W Node workers train the `mlp` in asynchronous mode while a quarter of
 * them push corrupted gradients — 100×-scaled, or sign-flipped — against a clean run
 * with the same number of workers, epochs and seed. The defence under test is the
 * norm bound (`normBound`, server/params/norm-bound.ts): it refuses the scaled pushes;
 * sign-flipped ones keep honest norms and are outvoted by the honest majority.
 */
import { Command } from 'commander';
import { integer } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { ATTACKS, type Attack } from './attacks.js';
import { WorkerPool } from './worker-pool.js';

interface Options {
  workers: number;
  epochs: number;
  seed: number;
}

interface AttackResult {
  attack: Attack | 'none';
  byzantine: number;
  accuracy: number;
  seconds: number;
  accepted: number;
  rejected: Record<string, number>;
}

const log = (msg: string) => process.stderr.write(`[byzantine] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function trainOnce(o: Options, attack: Attack | 'none'): Promise<AttackResult> {
  const coordinator = createCoordinator();
  const created = await coordinator.createJob({ name: `byzantine-${attack}`, model: 'mlp', epochs: o.epochs, seed: o.seed, evalIntervalSeconds: 86_400 });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const pool = new WorkerPool(url.replace(/\/$/, ''));
  const byzantine = attack === 'none' ? 0 : Math.floor(o.workers / 4);
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: o.workers }, (_, i) => pool.start(i < byzantine ? ['--byzantine', attack] : [])));
    log(`${attack}: ${o.workers} workers (${byzantine} Byzantine), ${o.epochs} epochs`);
    while (job.state === 'running') await sleep(250);
    if (job.state !== 'done') throw new Error(`${attack} run ended ${job.state}: ${job.failure}`);
    const evaluated = await job.evaluateIfChanged();
    if (!evaluated) throw new Error(`${attack} run could not be evaluated`);
    const r: AttackResult = {
      attack,
      byzantine,
      accuracy: evaluated.accuracy,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      accepted: job.stats.pushesAccepted,
      rejected: { ...job.stats.pushesRejected } as Record<string, number>,
    };
    log(`${attack}: accuracy ${(r.accuracy * 100).toFixed(2)} %, refused ${JSON.stringify(r.rejected)}`);
    return r;
  } finally {
    await pool.close();
    await coordinator.close();
  }
}

async function run(o: Options): Promise<void> {
  setLogLevel('warn');
  const clean = await trainOnce(o, 'none');
  const results = [clean];
  for (const attack of ATTACKS) results.push(await trainOnce(o, attack));
  process.stdout.write(
    JSON.stringify({
      bench: 'byzantine',
      model: 'mlp',
      mode: 'async',
      workers: o.workers,
      epochs: o.epochs,
      results: results.map((r) => ({ ...r, delta_pt: Math.round((r.accuracy - clean.accuracy) * 10_000) / 100 })),
    }) + '\n',
  );
}

export function byzantineCommand(): Command {
  return new Command('byzantine')
    .description('a quarter of the workers push sign-flipped or 100×-scaled gradients; accuracy against a clean run')
    .option('--workers <n>', 'Node workers (a quarter of them Byzantine)', integer(4, 64), 8)
    .option('--epochs <n>', 'epochs per run', integer(1, 100), 2)
    .option('--seed <n>', 'job seed', integer(0, 2 ** 31 - 1), 1)
    .action((o: Options) => run(o));
}
