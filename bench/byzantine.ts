/**
 * byzantine: W Node workers train the `mlp` while a quarter of them push corrupted
 * gradients — 100×-scaled, or sign-flipped — against a clean run with the same number
 * of workers, epochs and seed. In async mode the defence is the norm bound
 * (`normBound`, server/params/norm-bound.ts): it refuses the scaled pushes; sign-flipped
 * ones keep honest norms and are outvoted by the honest majority. In sync mode the
 * round's aggregation (`aggregation`) is the second defence: a coordinate-wise median
 * or trimmed mean (server/consistency/robust-aggregation.ts) ignores a minority of
 * outliers that pass the norm bound, Multi-Krum (multi-krum.ts) drops whole gradients
 * far from the rest (`--norm-bound 0` leaves the aggregation alone against both).
 */
import { Command, Option } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { SyncBarrier } from '../server/consistency/sync-barrier.js';
import { setLogLevel } from '../server/logger.js';
import { AGGREGATIONS, parseJobSpec, type AggregationName, type JobSpecInput } from '../shared/job-spec.js';
import { ATTACKS, type Attack } from './attacks.js';
import { trainToEnd } from './train-run.js';

/** The modes this bench runs: Downpour, and rounds whose aggregation can be robust. */
const BENCH_MODES = ['async', 'sync'] as const;

interface Options {
  workers: number;
  epochs: number;
  seed: number;
  mode: (typeof BENCH_MODES)[number];
  aggregation: AggregationName;
  trimFraction: number;
  normBound: number;
  /** Mini-batches each push sums: more gives less noisy gradients for the defences to judge. */
  nPush: number;
}

interface AttackResult {
  attack: Attack | 'none';
  byzantine: number;
  accuracy: number;
  /** Test loss at the end (tells apart runs whose accuracies happen to tie). */
  loss: number;
  seconds: number;
  accepted: number;
  /** Examples behind the accepted pushes: a refused push's examples never reach the model. */
  examples_accepted: number;
  rejected: Record<string, number>;
  /** sync: rounds applied, and those closed by their deadline rather than their quorum. */
  rounds?: number;
  rounds_timed_out?: number;
}

const log = (msg: string) => process.stderr.write(`[byzantine] ${msg}\n`);

function specFor(o: Options, attack: Attack | 'none'): JobSpecInput {
  const { mode, aggregation, trimFraction, normBound, epochs, seed, nPush } = o;
  return { name: `byzantine-${attack}`, model: 'mlp', epochs, seed, mode, aggregation, trimFraction, normBound, nPush };
}

async function trainOnce(o: Options, attack: Attack | 'none'): Promise<AttackResult> {
  const byzantine = attack === 'none' ? 0 : Math.floor(o.workers / 4);
  const { job, accuracy, loss, seconds } = await trainToEnd(
    specFor(o, attack),
    o.workers,
    (i) => (i < byzantine ? ['--byzantine', attack] : []),
    () => log(`${attack}: ${o.mode} (${o.aggregation}), ${o.workers} workers (${byzantine} Byzantine), ${o.epochs} epochs`),
  );
  const r: AttackResult = {
    attack,
    byzantine,
    accuracy,
    loss: Math.round(loss * 10_000) / 10_000,
    seconds,
    accepted: job.stats.pushesAccepted,
    examples_accepted: job.stats.examplesSeen,
    rejected: { ...job.stats.pushesRejected } as Record<string, number>,
  };
  if (job.consistency instanceof SyncBarrier) {
    r.rounds = job.consistency.rounds;
    r.rounds_timed_out = job.consistency.timedOut;
  }
  log(`${attack}: accuracy ${(r.accuracy * 100).toFixed(2)} %, refused ${JSON.stringify(r.rejected)}`);
  return r;
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
      mode: o.mode,
      aggregation: o.aggregation,
      ...(o.aggregation === 'trimmed-mean' ? { trim_fraction: o.trimFraction } : {}),
      norm_bound: o.normBound,
      workers: o.workers,
      epochs: o.epochs,
      n_push: o.nPush,
      results: results.map((r) => ({ ...r, delta_pt: Math.round((r.accuracy - clean.accuracy) * 10_000) / 100 })),
    }) + '\n',
  );
}

export function byzantineCommand(): Command {
  const defaults = parseJobSpec({});
  if (!defaults.ok) throw new Error(defaults.message);
  return new Command('byzantine')
    .description('a quarter of the workers push sign-flipped or 100×-scaled gradients; accuracy against a clean run')
    .option('--workers <n>', 'Node workers (a quarter of them Byzantine)', integer(4, 64), 8)
    .option('--epochs <n>', 'epochs per run', integer(1, 100), 2)
    .option('--seed <n>', 'job seed', integer(0, 2 ** 31 - 1), 1)
    .addOption(new Option('--mode <mode>', 'consistency mode').choices(BENCH_MODES).default('async'))
    .addOption(new Option('--aggregation <rule>', 'how a sync round combines its gradients (trimmed-mean and median need --mode sync)').choices(AGGREGATIONS).default(defaults.value.aggregation))
    .option('--trim-fraction <f>', 'trimmed-mean: fraction dropped from each end, in [0, 0.5)', number(0, 0.5), defaults.value.trimFraction)
    .option('--n-push <n>', "mini-batches per push (the job's nPush)", integer(1, 1000), defaults.value.nPush)
    .option('--norm-bound <x>', 'the norm bound factor (0: off, so the aggregation faces the scaled pushes alone)', number(0, 1e6), defaults.value.normBound)
    .action(function (this: Command, o: Options) {
      // The job spec's own rules decide which combinations make sense (e.g. a median needs sync rounds).
      const spec = parseJobSpec(specFor(o, 'none'));
      if (!spec.ok) this.error(`error: ${spec.message}`);
      return run(o);
    });
}
