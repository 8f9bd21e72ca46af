/**
 * Model parallelism's cost on the relay path: a real coordinator on port 0 with the
 * model split into stages, stage workers each in its own process (bench/node-stage-
 * worker.ts, tfjs wasm), frames relayed by the coordinator; against the same model
 * trained data-parallel by as many workers (bench/node-worker.ts). After a warm-up,
 * over --seconds: examples/s, each stage's bubble (1 − busy ÷ wall: the time it waited
 * for its neighbours), and the bytes crossing each boundary per example, both ways.
 * GPipe's bound for the bubble is (K − 1)/(M + K − 1). Last, one browser run: two
 * Chromium tabs as the 2 stages of one replica, linked by WebRTC (bench/pipeline-browser.ts;
 * `--no-browser` skips it).
 *
 * `--model mlp-large` runs on ps tasks the bench starts (`--ps`, default 2) with a
 * worker budget under the model's size: 1 × 2 stages, and the data-parallel row says
 * why it cannot run (bench/pipeline-large.ts).
 *
 * `npm run bench -- pipeline [--model mlp] [--microbatches 4] [--seconds 20]`: a line
 * per run on stderr, one JSON line last:
 * {bench:"pipeline",results:[{model,replicas,stages,microbatches,path,examples_per_s,bubble,boundary_bytes_per_example}]}
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { integer } from '../server/cli-args.js';
import type { ModelPresetName } from '../shared/job-spec.js';
import { startCoordinator } from '../test-support/coordinator.js';
import type { StageWorkerMessage, StageWorkerProgress } from './node-stage-worker.js';
import { WorkerPool } from './worker-pool.js';
import { browserStaged } from './pipeline-browser.js';
import { dataParallelOverBudget, largeSetup, type LargeSetup } from './pipeline-large.js';

const STAGE_WORKER_FILE = fileURLToPath(new URL('./node-stage-worker.ts', import.meta.url));
/** Until every stage has computed this long, the pipeline is still warming up (tfjs sets up its kernels on first use). */
const WARM_UP_BUSY_MS = 400;

interface Result {
  model: ModelPresetName;
  replicas: number;
  stages: number;
  microbatches: number;
  path: 'relay' | 'webrtc' | 'data-parallel';
  examples_per_s: number | null;
  /** ps tasks holding the parameters (absent: the coordinator holds them). */
  ps_tasks?: number;
  /** Why the run was not made (examples_per_s is then null). */
  skipped?: string;
  /** Mean over the stages of 1 − busy ÷ wall (null for data parallelism). */
  bubble: number | null;
  /** Each stage's bubble, in stage order of the first replica. */
  stage_bubbles: number[] | null;
  /** Frame bytes across one boundary per example, forward and back (null for data parallelism). */
  boundary_bytes_per_example: number | null;
  gpipe_bound: number | null;
}

interface StageProcess {
  child: ChildProcess;
  latest: StageWorkerProgress | null;
  exited: Promise<void>;
}

function forkStage(url: string): Promise<StageProcess> {
  const child = fork(STAGE_WORKER_FILE, [url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const p: StageProcess = { child, latest: null, exited: new Promise((r) => child.once('exit', () => r())) };
  return new Promise((resolve, reject) => {
    child.on('message', (m: StageWorkerMessage) => {
      if (m.type === 'ready') resolve(p);
      else p.latest = m.progress;
    });
    void p.exited.then(() => reject(new Error('a stage worker exited before it said hello')));
  });
}

/** Resolves with every process's report once each has one satisfying `ready` (checked on each report). */
function reports(ps: readonly StageProcess[], ready: (r: StageWorkerProgress) => boolean): Promise<StageWorkerProgress[]> {
  return new Promise((resolve) => {
    const check = () => {
      if (ps.every((p) => p.latest && ready(p.latest))) {
        ps.forEach((p) => p.child.off('message', check));
        resolve(ps.map((p) => p.latest!));
      }
    };
    ps.forEach((p) => p.child.on('message', check));
  });
}

async function staged(model: ModelPresetName, replicas: number, stages: number, microbatches: number, seconds: number, large: LargeSetup | null = null): Promise<Result> {
  const run = await startCoordinator({ model, stages, microbatches, epochs: 100, ...large?.spec }, {}, { ps: large?.ps });
  const ps: StageProcess[] = [];
  try {
    for (let i = 0; i < replicas * stages; i++) ps.push(await forkStage(run.url));
    const start = await reports(ps, (r) => r.stage !== null && r.busyMs >= WARM_UP_BUSY_MS);
    const t0 = performance.now();
    const end = await reports(ps, () => performance.now() - t0 >= seconds * 1000);
    const wall = (i: number) => end[i]!.at - start[i]!.at;
    const bubbles = ps.map((_, i) => 1 - (end[i]!.busyMs - start[i]!.busyMs) / wall(i));
    const examples = ps.reduce((n, _, i) => n + (end[i]!.stage === 0 ? end[i]!.examples - start[i]!.examples : 0), 0);
    const bytes = ps.reduce((n, _, i) => n + (end[i]!.bytesSent - start[i]!.bytesSent), 0);
    const first = ps.map((_, i) => i).filter((i) => end[i]!.replicaId === end.find((r) => r.stage === 0)!.replicaId).sort((a, b) => end[a]!.stage! - end[b]!.stage!);
    return {
      model,
      replicas,
      stages,
      microbatches,
      path: 'relay',
      examples_per_s: examples / (first.reduce((n, i) => Math.max(n, wall(i)), 0) / 1000),
      bubble: bubbles.reduce((a, b) => a + b, 0) / bubbles.length,
      stage_bubbles: first.map((i) => bubbles[i]!),
      boundary_bytes_per_example: examples ? bytes / examples / (stages - 1) : null,
      gpipe_bound: (stages - 1) / (microbatches + stages - 1),
      ...(large ? { ps_tasks: large.ps } : {}),
    };
  } finally {
    for (const p of ps) p.child.kill('SIGKILL');
    await Promise.all(ps.map((p) => p.exited));
    await run.close();
  }
}

async function dataParallel(model: ModelPresetName, workers: number, seconds: number): Promise<Result> {
  const run = await startCoordinator({ model, epochs: 100 });
  const pool = new WorkerPool(run.url, 'ignore');
  try {
    for (let i = 0; i < workers; i++) await pool.start();
    const contributed = () => pool.workers.reduce((n, w) => n + (w.progress?.examplesContributed ?? 0), 0);
    const waitFor = (done: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!done()) return;
          pool.workers.forEach((w) => w.child.off('message', check));
          resolve();
        };
        pool.workers.forEach((w) => w.child.on('message', check));
      });
    await waitFor(() => pool.workers.every((w) => (w.progress?.examplesContributed ?? 0) > 0));
    const before = contributed();
    const t0 = performance.now();
    await waitFor(() => performance.now() - t0 >= seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    return { model, replicas: workers, stages: 1, microbatches: 1, path: 'data-parallel', examples_per_s: (contributed() - before) / elapsed, bubble: null, stage_bubbles: null, boundary_bytes_per_example: null, gpipe_bound: null };
  } finally {
    await pool.close();
    await run.close();
  }
}

export function pipelineCommand(): Command {
  return new Command('pipeline')
    .description('model parallelism on the relay path: examples/s, bubble and bytes per boundary of 1 × 2 and 2 × 2 stages against 2 data-parallel workers')
    .addOption(new Option('--model <preset>', 'model preset (mlp-large runs on --ps tasks, 1 × 2 stages only)').choices(['mlp', 'cnn', 'mlp-large']).default('mlp'))
    .option('--ps <n>', 'ps tasks the bench starts for mlp-large (it is over one task and one worker)', integer(2, 16), 2)
    .option('--microbatches <m>', 'micro-batches per mini-batch (M)', integer(1, 64), 4)
    .option('--seconds <n>', 'measured time per run, after warm-up', integer(5, 600), 20)
    .option('--no-browser', 'skip the browser run (two Chromium tabs linked by WebRTC)')
    .action(async (o: { model: ModelPresetName; microbatches: number; seconds: number; browser: boolean; ps: number }) => {
      const results: Result[] = [];
      const large = o.model === 'mlp-large' ? largeSetup(o.ps) : null;
      for (const [replicas, stages] of large
        ? ([[1, 2]] as const)
        : ([
            [1, 2],
            [2, 2],
          ] as const)) {
        results.push(await staged(o.model, replicas, stages, o.microbatches, o.seconds, large));
        const r = results.at(-1)!;
        process.stderr.write(
          `[pipeline] ${o.model} ${replicas} × ${stages} stages${large ? ` on ${o.ps} ps tasks` : ''}, M = ${o.microbatches}: ${r.examples_per_s!.toFixed(0)} examples/s, bubble ${r.bubble!.toFixed(2)} ` +
            `(stages ${r.stage_bubbles!.map((b) => b.toFixed(2)).join(', ')}; GPipe's bound ${r.gpipe_bound!.toFixed(2)}), ${r.boundary_bytes_per_example!.toFixed(0)} B per example per boundary\n`,
        );
      }
      if (large) {
        results.push(dataParallelOverBudget(o.model, o.ps));
        process.stderr.write(`[pipeline] ${o.model} 2 data-parallel workers: skipped: ${results.at(-1)!.skipped}\n`);
      } else {
        results.push(await dataParallel(o.model, 2, o.seconds));
        process.stderr.write(`[pipeline] ${o.model} 2 data-parallel workers: ${results.at(-1)!.examples_per_s!.toFixed(0)} examples/s\n`);
      }
      if (o.browser && !large) {
        const r = await browserStaged(o.model, o.microbatches, o.seconds);
        results.push(r);
        process.stderr.write(
          `[pipeline] ${o.model} 1 × 2 stages in 2 Chromium tabs over WebRTC, M = ${o.microbatches}: ${r.examples_per_s.toFixed(0)} examples/s, bubble ${r.bubble.toFixed(2)} ` +
            `(stages ${r.stage_bubbles.map((b) => b.toFixed(2)).join(', ')}, since the replica formed), ${r.boundary_bytes_per_example?.toFixed(0) ?? '?'} B per example per boundary\n`,
        );
      }
      process.stdout.write(`${JSON.stringify({ bench: 'pipeline', results })}\n`);
    });
}
