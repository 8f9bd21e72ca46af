/**
 * byzantine: W Node workers train the `mlp` while a quarter of them attack
 * (bench/attacks.ts: sign-flipped or 100×-scaled gradients, 1000× gradients claiming
 * 100,000 batches, or hoarding leases while claiming 10^6 examples/s and pushing every
 * 15 s), against a clean run with the same number of workers, epochs and seed; every
 * attack and the clean run over each seed of --seeds, reported per attack as the mean
 * and range over the seeds.
 *
 * Defences: in async mode the norm bound (`normBound`, server/params/norm-bound.ts)
 * refuses scaled pushes, and the coordinator counts batches from leases (BATCH_CLAIM);
 * refused pushes' examples go back to the queue for honest workers, a worker refused
 * three times in a row loses its leases, and a hoarder's leases are taken back when its
 * pushes do not come at the rate it claims (server/jobs/push-accounting.ts,
 * lease-terms.ts). Sign-flipped pushes keep honest norms and are outvoted by the honest
 * majority. In sync mode the round's aggregation (`aggregation`) is the second defence: a
 * coordinate-wise median or trimmed mean (server/consistency/robust-aggregation.ts)
 * ignores a minority of outliers that pass the norm bound, Multi-Krum (multi-krum.ts)
 * drops whole gradients far from the rest (`--norm-bound 0` leaves the aggregation alone
 * against both).
 *
 * Besides accuracy each run reports its throughput (examples the coordinator accepted
 * per second) and the longest time an honest worker asked for a lease in vain, to the
 * job's end (the target: no more than one lease period).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
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
  seeds: number[];
  attack: Attack[];
  mode: (typeof BENCH_MODES)[number];
  aggregation: AggregationName;
  trimFraction: number;
  normBound: number;
  /** Mini-batches each push sums: more gives less noisy gradients for the defences to judge. */
  nPush: number;
}

type Setting = Attack | 'none';

interface Run {
  seed: number;
  accuracy: number;
  /** Test loss at the end (tells apart runs whose accuracies happen to tie). */
  loss: number;
  seconds: number;
  accepted: number;
  /** Examples the coordinator accepted (counted from its leases): every epoch's, refused pushes' examples trained again by others. */
  examples_accepted: number;
  examples_per_second: number;
  rejected: Record<string, number>;
  /** The longest an honest worker asked for a lease in vain, up to the job's end. */
  honest_longest_wait_s: number;
  /** Accuracy minus the clean run's of the same seed, in points. */
  delta_pt: number;
  /** sync: rounds applied, and those closed by their deadline rather than their quorum. */
  rounds?: number;
  rounds_timed_out?: number;
}

const log = (msg: string) => process.stderr.write(`[byzantine] ${msg}\n`);
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const spread = (xs: number[], digits: number) => ({
  mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, digits),
  min: round(Math.min(...xs), digits),
  max: round(Math.max(...xs), digits),
});

function specFor(o: Options, attack: Setting, seed: number): JobSpecInput {
  const { mode, aggregation, trimFraction, normBound, epochs, nPush } = o;
  return { name: `byzantine-${attack}`, model: 'mlp', epochs, seed, mode, aggregation, trimFraction, normBound, nPush };
}

const attackersOf = (o: Options, attack: Setting) => (attack === 'none' ? 0 : Math.floor(o.workers / 4));

async function trainOnce(o: Options, attack: Setting, seed: number, clean: number | null): Promise<Run> {
  const byzantine = attackersOf(o, attack);
  const { job, accuracy, loss, seconds, workers } = await trainToEnd(
    specFor(o, attack, seed),
    o.workers,
    (i) => (i < byzantine ? ['--byzantine', attack] : []),
    () => log(`${attack}, seed ${seed}: ${o.mode} (${o.aggregation}), ${o.workers} workers (${byzantine} Byzantine), ${o.epochs} epochs`),
  );
  const honestWaits = workers.slice(byzantine).map((p) => p?.longestWaitMs ?? 0);
  const r: Run = {
    seed,
    accuracy,
    loss: round(loss, 4),
    seconds,
    accepted: job.stats.pushesAccepted,
    examples_accepted: job.stats.examplesSeen,
    examples_per_second: round(job.stats.examplesSeen / seconds, 1),
    rejected: { ...job.stats.pushesRejected } as Record<string, number>,
    honest_longest_wait_s: round(Math.max(0, ...honestWaits) / 1000, 1),
    delta_pt: clean === null ? 0 : round((accuracy - clean) * 100, 2),
  };
  if (job.consistency instanceof SyncBarrier) {
    r.rounds = job.consistency.rounds;
    r.rounds_timed_out = job.consistency.timedOut;
  }
  log(`${attack}, seed ${seed}: accuracy ${(r.accuracy * 100).toFixed(2)} %, ${r.examples_per_second} examples/s, longest honest wait ${r.honest_longest_wait_s} s, refused ${JSON.stringify(r.rejected)}`);
  return r;
}

async function run(o: Options): Promise<void> {
  setLogLevel('warn');
  const settings: Setting[] = ['none', ...o.attack];
  const runs = new Map<Setting, Run[]>(settings.map((s) => [s, []]));
  // Seed by seed, every setting in turn: a machine that drifts over time drifts for all of them.
  for (const seed of o.seeds) {
    const clean = await trainOnce(o, 'none', seed, null);
    runs.get('none')!.push(clean);
    for (const attack of o.attack) runs.get(attack)!.push(await trainOnce(o, attack, seed, clean.accuracy));
  }
  const leaseSeconds = parseJobSpec(specFor(o, 'none', 1));
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
      seeds: o.seeds,
      lease_seconds: leaseSeconds.ok ? leaseSeconds.value.leaseSeconds : null,
      results: settings.map((attack) => {
        const rs = runs.get(attack)!;
        return {
          attack,
          byzantine: attackersOf(o, attack),
          accuracy: spread(rs.map((r) => r.accuracy), 4),
          delta_pt: spread(rs.map((r) => r.delta_pt), 2),
          examples_per_second: spread(rs.map((r) => r.examples_per_second), 1),
          honest_longest_wait_s: Math.max(...rs.map((r) => r.honest_longest_wait_s)),
          runs: rs,
        };
      }),
    }) + '\n',
  );
}

const listOf = <T,>(parse: (item: string) => T) => (v: string): T[] => {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new InvalidArgumentError('expected a comma-separated list');
  return [...new Set(items.map(parse))];
};
const attackName = (a: string): Attack => {
  if (!(ATTACKS as readonly string[]).includes(a)) throw new InvalidArgumentError(`expected attacks from ${ATTACKS.join(', ')}, got "${a}"`);
  return a as Attack;
};

export function byzantineCommand(): Command {
  const defaults = parseJobSpec({});
  if (!defaults.ok) throw new Error(defaults.message);
  return new Command('byzantine')
    .description('a quarter of the workers attack (sign, scale, claim-batches, hoard); accuracy, throughput and honest workers\' waits against a clean run, over several seeds')
    .option('--workers <n>', 'Node workers (a quarter of them Byzantine)', integer(4, 64), 8)
    .option('--epochs <n>', 'epochs per run', integer(1, 100), 2)
    .option('--seeds <list>', 'job seeds, each run for every attack and the clean run', listOf(integer(0, 2 ** 31 - 1)), [1, 2, 3])
    .option('--attack <list>', `attacks, comma-separated: ${ATTACKS.join(', ')}`, listOf(attackName), [...ATTACKS])
    .addOption(new Option('--mode <mode>', 'consistency mode').choices(BENCH_MODES).default('async'))
    .addOption(new Option('--aggregation <rule>', 'how a sync round combines its gradients (trimmed-mean and median need --mode sync)').choices(AGGREGATIONS).default(defaults.value.aggregation))
    .option('--trim-fraction <f>', 'trimmed-mean: fraction dropped from each end, in [0, 0.5)', number(0, 0.5), defaults.value.trimFraction)
    .option('--n-push <n>', "mini-batches per push (the job's nPush)", integer(1, 1000), defaults.value.nPush)
    .option('--norm-bound <x>', 'the norm bound factor (0: off, so the aggregation faces the scaled pushes alone)', number(0, 1e6), defaults.value.normBound)
    .action(function (this: Command, o: Options) {
      // The job spec's own rules decide which combinations make sense (e.g. a median needs sync rounds).
      const spec = parseJobSpec(specFor(o, 'none', o.seeds[0]!));
      if (!spec.ok) this.error(`error: ${spec.message}`);
      return run(o);
    });
}
