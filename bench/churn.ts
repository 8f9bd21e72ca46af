/**
 * churn: W Node workers (bench/node-worker.ts, real tfjs-wasm training) train one job
 * while every `interval` seconds a third of them is SIGKILLed and replaced, until all
 * epochs are done. Then the same job spec (same seed) trains again with W workers and
 * no kills. The coordinator's own count of the examples it accepted, per shard and epoch
 * (from its leases' batches, not from the workers), is compared with the shard sizes:
 * an example lost or trained twice shows up; the test-set accuracies of both runs are
 * compared too.
 */
import { Command, Option } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { MODEL_PRESET_NAMES } from '../shared/job-spec.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { WorkerPool } from './worker-pool.js';

interface Options {
  model: string;
  workers: number;
  epochs: number;
  interval: number;
  leaseSeconds: number;
  seed: number;
}

interface RunResult {
  seconds: number;
  kills: number;
  shardsPerEpoch: number;
  /** Examples all epochs hold: epochs × the training set. */
  examplesExpected: number;
  /** Examples the coordinator accepted, counted from its leases' batches. */
  examplesAccepted: number;
  /** Σ over epochs and shards of what was accepted short of the shard's size: examples lost. */
  examplesMissing: number;
  /** Σ of what was accepted beyond the shard's size: examples trained twice. */
  examplesRetrained: number;
  leasesLeaked: number;
  /** Pushes' examples as the job's counters add them (the same accounting, summed as pushes are answered). */
  examplesSeen: number;
  /** Refused pushes by code (e.g. STALE): examples whose gradient never reached the parameters. */
  rejected: Record<string, number>;
  accuracy: number;
  version: number;
}

const log = (msg: string) => process.stderr.write(`[churn] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function trainOnce(o: Options, churn: boolean): Promise<RunResult> {
  const label = churn ? 'churn' : 'clean';
  const coordinator = createCoordinator();
  const created = await coordinator.createJob({
    name: `churn-${label}`,
    model: o.model,
    epochs: o.epochs,
    seed: o.seed,
    // Evaluation only at the end: both runs are scored once, on their final parameters.
    evalIntervalSeconds: 86_400,
    // Disconnects release leases at once; a short TTL is the backstop for a silent worker.
    leaseSeconds: o.leaseSeconds,
  });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const pool = new WorkerPool(url.replace(/\/$/, ''));
  let kills = 0;
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: o.workers }, () => pool.start()));
    const sizes = job.ledger.shardSizes;
    log(`${label}: ${o.workers} workers training ${o.model}, ${o.epochs} epochs of ${sizes.length} shards`);
    let nextKill = Date.now() + o.interval * 1000;
    let lastLog = 0;
    while (job.state === 'running') {
      await sleep(250);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const done = job.ledger.examples.reduce((n, e) => n + e.filter((x, s) => x >= sizes[s]!).length, 0);
        log(`${label}: ${Math.round((Date.now() - started) / 1000)} s, epoch ${job.ledger.epochsCompleted}, shards done ${done}, version ${job.store.version}, kills ${kills}`);
      }
      if (!churn || Date.now() < nextKill || job.state !== 'running') continue;
      const alive = pool.alive();
      // The oldest third goes: every worker is eventually killed if the run is long enough.
      const victims = alive.slice(0, Math.ceil(alive.length / 3));
      for (const w of victims) pool.kill(w);
      kills += victims.length;
      log(`${label}: killed ${victims.length} workers (holding ${victims.filter((w) => w.workerId && job.ledger.leaseTable().has(w.workerId)).length} leased), starting replacements`);
      // Replacements start in the background so the loop keeps watching the job.
      for (const _ of victims) pool.start().catch((err: unknown) => log(`replacement failed: ${err instanceof Error ? err.message : String(err)}`));
      nextKill = Date.now() + o.interval * 1000;
    }
    const seconds = (Date.now() - started) / 1000;
    if (job.state !== 'done') throw new Error(`${label} run ended ${job.state}: ${job.failure}`);
    const evaluated = await job.evaluateIfChanged();
    if (!evaluated) throw new Error(`${label} run could not be evaluated`);
    // Every epoch, opened or not, against every shard's size.
    const accepted = Array.from({ length: o.epochs }, (_, e) => sizes.map((_, s) => job.ledger.examples[e]?.[s] ?? 0));
    const cells = accepted.flatMap((e) => e.map((x, s) => x - sizes[s]!));
    const result: RunResult = {
      seconds,
      kills,
      shardsPerEpoch: sizes.length,
      examplesExpected: o.epochs * sizes.reduce((a, b) => a + b, 0),
      examplesAccepted: accepted.flat().reduce((a, b) => a + b, 0),
      examplesMissing: cells.reduce((n, d) => n + Math.max(0, -d), 0),
      examplesRetrained: cells.reduce((n, d) => n + Math.max(0, d), 0),
      leasesLeaked: job.ledger.activeLeases,
      examplesSeen: job.stats.examplesSeen,
      rejected: { ...job.stats.pushesRejected },
      accuracy: evaluated.accuracy,
      version: job.store.version,
    };
    log(`${label}: done in ${seconds.toFixed(0)} s, accuracy ${(result.accuracy * 100).toFixed(2)} %, version ${result.version}, examples ${result.examplesSeen}`);
    return result;
  } finally {
    await pool.close();
    await coordinator.close();
  }
}

async function run(o: Options): Promise<void> {
  setLogLevel('warn');
  const churn = await trainOnce(o, true);
  const clean = await trainOnce(o, false);
  const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
  process.stdout.write(
    JSON.stringify({
      bench: 'churn',
      model: o.model,
      workers: o.workers,
      interval_s: o.interval,
      kills: churn.kills,
      epochs: o.epochs,
      shards_per_epoch: churn.shardsPerEpoch,
      examples_expected: churn.examplesExpected,
      examples_accepted_churn: churn.examplesAccepted,
      examples_missing_churn: churn.examplesMissing,
      examples_retrained_churn: churn.examplesRetrained,
      examples_seen_churn: churn.examplesSeen,
      leases_leaked: churn.leasesLeaked,
      examples_accepted_clean: clean.examplesAccepted,
      examples_missing_clean: clean.examplesMissing,
      examples_retrained_clean: clean.examplesRetrained,
      leases_leaked_clean: clean.leasesLeaked,
      rejected_churn: churn.rejected,
      rejected_clean: clean.rejected,
      accuracy_churn: round(churn.accuracy, 4),
      accuracy_clean: round(clean.accuracy, 4),
      delta_pt: round((churn.accuracy - clean.accuracy) * 100, 2),
      seconds_churn: round(churn.seconds, 1),
      seconds_clean: round(clean.seconds, 1),
    }) + '\n',
  );
}

export function churnCommand(): Command {
  return new Command('churn')
    .description("Node workers SIGKILLed and replaced while a job trains; the coordinator's count of accepted examples per shard and epoch, and accuracy against an undisturbed run")
    .addOption(new Option('--model <preset>', 'model preset').choices(MODEL_PRESET_NAMES).default('mlp'))
    .option('--workers <n>', 'Node worker processes', integer(1, 64), 6)
    .option('--epochs <n>', 'epochs of the job', integer(1, 100), 3)
    .option('--interval <s>', 'seconds between kills', number(1, 3600), 20)
    .option('--lease-seconds <s>', "the job's lease TTL", number(1, 3600), 10)
    .option('--seed <n>', "the job's seed (both runs)", integer(0, 2 ** 31 - 1), 1)
    .action((o: Options) => run(o));
}
