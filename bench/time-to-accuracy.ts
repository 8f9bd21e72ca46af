/**
 * time-to-accuracy: what `npm start -- --workers N` does, timed. The default job
 * (MNIST, cnn, async Downpour, Adagrad, topk-packed with pull deltas; --codec fp32 for
 * the old default) trains on N local headless Chromium workers
 * until the coordinator's test-set evaluation reaches the target accuracy.
 * With `--ps N` the parameters live on N local ps task processes, and the job is the one
 * `npm start -- --ps N` creates (server/main.ts: fp32, without the whole-gradient defences).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { CODEC_IDS } from '../shared/codec.js';
import { BUILTIN_JOB_WIRE, builtinJobWire } from '../shared/job-defaults.js';
import { MODEL_PRESET_NAMES } from '../shared/job-spec.js';
import { launchWorkers } from '../farm/fleet.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { resolveClusterToken } from '../server/cluster/cluster-token.js';
import { startLocalPsTasks, type LocalPsTasks } from '../server/cluster/local-ps-tasks.js';

interface Options {
  model: string;
  codec: string;
  workers: number;
  target: number;
  evalInterval: number;
  timeout: number;
  ps: number;
}


async function run(opts: Options): Promise<void> {
  setLogLevel('warn');
  await buildClientIfNeeded();
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-tta-'));
  let tasks: LocalPsTasks | null = null;
  let cluster;
  if (opts.ps > 0) {
    tasks = await startLocalPsTasks({ tasks: opts.ps, dataDir, logLevel: 'warn' });
    const token = resolveClusterToken({ dataDir });
    if (!token.ok) throw new Error(`${token.code}: ${token.message}`);
    cluster = { endpoints: [...tasks.endpoints], token: token.token, supervisor: tasks };
  }
  // No data dir for the coordinator, as before: both rows keep jobs in memory (the tasks read their token from dataDir).
  const coordinator = createCoordinator({ cluster });
  // As server/main.ts: on ps tasks the default job pushes fp32, with the norm bound judged per task and no direction check.
  const wire = opts.ps > 0 ? { ...builtinJobWire('fp32'), directionThreshold: null } : builtinJobWire(opts.codec);
  const created = await coordinator.createJob({ name: `MNIST ${opts.model}`, model: opts.model, evalIntervalSeconds: opts.evalInterval, ...wire });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const started = Date.now();
  const errors: string[] = [];
  const fleet = await launchWorkers({ url, workers: opts.workers, onPageError: (i, m) => errors.push(`worker ${i}: ${m}`) });
  try {
    for (;;) {
      const last = job.evals.at(-1);
      if (last && last.accuracy >= opts.target) break;
      if (Date.now() - started > opts.timeout * 1000) throw new Error(`target ${opts.target} not reached in ${opts.timeout} s (last ${last?.accuracy})`);
      if (last) process.stderr.write(`[time-to-accuracy] ${((last.at - started) / 1000).toFixed(0)} s: accuracy ${last.accuracy.toFixed(4)}\n`);
      await new Promise((r) => setTimeout(r, opts.evalInterval * 1000));
    }
    const hit = job.evals.find((e) => e.accuracy >= opts.target)!;
    const backends = coordinator.workers.list().map((w) => w.backend);
    process.stdout.write(
      JSON.stringify({
        bench: 'time-to-accuracy',
        model: opts.model,
        workers: opts.workers,
        ps: opts.ps,
        codec: wire.codec,
        backends,
        target: opts.target,
        seconds: Math.round((hit.at - started) / 100) / 10,
        accuracy: hit.accuracy,
        examples: hit.examplesSeen,
        epochs: Math.round((hit.examplesSeen / 60_000) * 100) / 100,
        version: hit.version,
        rejected: job.stats.pushesRejected,
        staleness: job.stats.staleness,
        page_errors: errors.length,
      }) + '\n',
    );
  } finally {
    await fleet.close();
    await coordinator.close();
    await tasks?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function timeToAccuracyCommand(): Command {
  return new Command('time-to-accuracy')
    .description('seconds for the default job on N local headless workers to reach a test accuracy')
    .addOption(new Option('--model <preset>', 'model preset').choices(MODEL_PRESET_NAMES).default('cnn'))
    .addOption(new Option('--codec <id>', 'gradient codec (the default job\'s: topk-packed at 0.008)').choices(CODEC_IDS).default(BUILTIN_JOB_WIRE.codec))
    .option('--workers <n>', 'local headless Chromium workers', integer(1, 64), 2)
    .option('--target <accuracy>', 'test accuracy to reach', number(0, 1), 0.98)
    .option('--eval-interval <s>', 'seconds between evaluations', number(1, 3600), 5)
    .option('--timeout <s>', 'give up after this many seconds', number(1, 86_400), 1800)
    .option('--ps <n>', 'keep the parameters on N local ps task processes (0: in the coordinator)', integer(0, 16), 0)
    .action((opts: Options) => run(opts));
}
