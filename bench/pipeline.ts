/**
 * Model parallelism's cost on the relay path: a real coordinator on port 0 with the
 * model split into stages, stage workers each in its own process (bench/node-stage-
 * worker.ts, tfjs wasm), frames relayed by the coordinator; against the same model
 * trained data-parallel by as many workers (bench/node-worker.ts). After a warm-up,
 * over --seconds: examples/s (the job's own count), and from the stages' replica:report
 * figures as the coordinator holds them (bench/replica-window.ts): each stage's bubble
 * (1 − busy ÷ wall: the time it waited for its neighbours), the bottleneck bubble (the
 * busiest stage's: GPipe's bound (K − 1)/(M + K − 1) is about it; the issue's target is
 * that bound + 0.1), and the bytes crossing each boundary per example, both ways. The mlp
 * cannot be balanced (its stage 1 holds 1 % of the work); the cnn splits 37 % / 63 %.
 * Last, one browser run: two
 * Chromium tabs as the 2 stages of one replica, linked by WebRTC (bench/pipeline-browser.ts;
 * `--no-browser` skips it).
 *
 * `--model mlp-large` runs on ps tasks the bench starts (`--ps`, default 2) with a
 * worker budget under the model's size: 1 × 2 stages, and the data-parallel row says
 * why it cannot run (bench/pipeline-large.ts).
 *
 * Each Node stage also reports its thread's event loop idle fraction over the window (the
 * time it had nothing to do, whatever its meter counted), and with `--cpu-profile DIR` a
 * CPU profile of the window (bench/stage-profile.ts).
 *
 * `npm run bench -- pipeline [--model mlp cnn] [--microbatches 4] [--seconds 20] [--codec fp32] [--batch N] [--pipeline-depth D] [--cpu-profile DIR]`:
 * a line per run on stderr, one JSON line last:
 * {bench:"pipeline",codec,batch,pipeline_depth,results:[{model,replicas,stages,microbatches,path,examples_per_s,bubble,bottleneck_bubble,bubble_target,target_met,boundary_bytes_per_example}]}
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { integer } from '../server/cli-args.js';
import { CODEC_IDS } from '../shared/codec.js';
import { builtinJobWire } from '../shared/job-defaults.js';
import { DEFAULT_PIPELINE_DEPTH, MAX_PIPELINE_DEPTH, type JobSpecInput, type ModelPresetName } from '../shared/job-spec.js';
import { TRAINING_EXEC_ARGV } from '../server/heap-flags.js';
import { startCoordinator } from '../test-support/coordinator.js';
import type { StageWorkerMessage, StageWorkerProgress, StageWorkerRequest } from './node-stage-worker.js';
import type { PhaseTotals } from '../shared/replica-protocol.js';
import { WorkerPool } from './worker-pool.js';
import { browserStaged, type TabDriver } from './pipeline-browser.js';
import { dataParallelOverBudget, largeSetup, type LargeSetup } from './pipeline-large.js';
import { sharesLine, type ProfileShares } from './stage-profile.js';
import { busyShare, machineCpu } from './proc-cpu.js';
import { gpipeBound, phasesLines, snapshotAfter, snapshotWhen, windowFigures } from './replica-window.js';

const STAGE_WORKER_FILE = fileURLToPath(new URL('./node-stage-worker.ts', import.meta.url));
/** Until every stage has computed this long, the pipeline is still warming up (tfjs sets up its kernels on first use). */
const WARM_UP_BUSY_MS = 400;

interface Result {
  model: ModelPresetName;
  /** ps tasks the bench started for the run (mlp-large), absent in one process. */
  ps_tasks?: number;
  replicas: number;
  stages: number;
  microbatches: number;
  path: 'relay' | 'webrtc' | 'data-parallel';
  /** The browser run's tabs (bench/pipeline-browser.ts). */
  tabs?: TabDriver;
  examples_per_s: number;
  /** Mean over the stages of 1 − busy ÷ wall (null for data parallelism). */
  bubble: number | null;
  /** Mean over the replicas of their busiest stage's 1 − busy ÷ wall: the figure GPipe's bound is about. */
  bottleneck_bubble: number | null;
  /** GPipe's bound + 0.1, and whether bottleneck_bubble is within it. */
  bubble_target: number | null;
  target_met: boolean | null;
  /** Each stage's bubble, in stage order of the first replica. */
  stage_bubbles: number[] | null;
  /** Frame bytes across one boundary per example, forward and back (null for data parallelism). */
  boundary_bytes_per_example: number | null;
  gpipe_bound: number | null;
  /** Each stage's time per phase as a share of its wall time over the window, in stage order of the first replica (client/engine/stage-phases.ts). */
  stage_phases?: PhaseTotals[];
  /**
   * Each stage's event loop idle fraction over the window (its process's
   * performance.eventLoopUtilization), in stage order of the first replica: the time its
   * thread waited with nothing to do. The bubble above is 1 − the meter's counted busy
   * time; the difference between the two is the stage's own work the meter does not time.
   */
  stage_loop_idle?: number[];
  /** Mean over the replicas of the busiest stage's loop idle fraction. */
  bottleneck_loop_idle?: number;
  /** With --cpu-profile: each stage's thread's CPU profile over the window by category, in stage order of the first replica. */
  stage_cpu_profile?: ProfileShares[];
  /**
   * The share of all the machine's cores busy over the window (bench/proc-cpu.ts; null off
   * Linux): near 1, the row measured what this machine's cores allow, not the stages' waiting on each other.
   */
  machine_cpu_busy: number | null;
}

interface StageProcess {
  child: ChildProcess;
  latest: StageWorkerProgress | null;
  exited: Promise<void>;
}

function forkStage(url: string): Promise<StageProcess> {
  const child = fork(STAGE_WORKER_FILE, [url], { execArgv: [...TRAINING_EXEC_ARGV], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const p: StageProcess = { child, latest: null, exited: new Promise((r) => child.once('exit', () => r())) };
  return new Promise((resolve, reject) => {
    child.on('message', (m: StageWorkerMessage) => {
      if (m.type === 'ready') resolve(p);
      else p.latest = m.progress;
    });
    void p.exited.then(() => reject(new Error('a stage worker exited before it said hello')));
  });
}

/**
 * Every process's report taken now (asked for over IPC, so the window's edges are not a
 * second old); with `profile`, each starts its thread's profiler first, or stops it and
 * writes it to the path given for the process (bench/stage-profile.ts).
 */
function sample(ps: readonly StageProcess[], profile?: 'start' | ((p: StageProcess) => string)): Promise<StageWorkerProgress[]> {
  return Promise.all(
    ps.map(
      (p) =>
        new Promise<StageWorkerProgress>((resolve) => {
          const writeTo = typeof profile === 'function' ? profile(p) : undefined;
          const answer = (m: StageWorkerMessage) => {
            if (m.type !== 'progress' || m.progress.stage === null || (writeTo && !m.progress.profile)) return;
            p.child.off('message', answer);
            resolve(m.progress);
          };
          p.child.on('message', answer);
          p.child.send({ type: 'sample', ...(profile === 'start' ? { profile } : writeTo ? { profile: { writeTo } } : {}) } satisfies StageWorkerRequest);
        }),
    ),
  );
}

/** Per replica (by id), a value for each of its stages in stage order, from the same processes' reports. */
function perStage<T>(rs: readonly StageWorkerProgress[], value: (r: StageWorkerProgress, i: number) => T): Map<string, T[]> {
  const byReplica = new Map<string, T[]>();
  rs.forEach((r, i) => {
    if (r.replicaId === null || r.stage === null) throw new Error('a stage left its replica during the window');
    const stages = byReplica.get(r.replicaId) ?? [];
    stages[r.stage] = value(r, i);
    byReplica.set(r.replicaId, stages);
  });
  return byReplica;
}

/** Per replica (by id), each stage's event loop idle fraction between two samples of the same processes. */
function loopIdle(before: StageWorkerProgress[], after: StageWorkerProgress[]): Map<string, number[]> {
  return perStage(after, (b, i) => {
    const a = before[i]!;
    if (b.replicaId !== a.replicaId) throw new Error('a stage changed replica during the window');
    const idle = b.loop.idleMs - a.loop.idleMs;
    return idle / (idle + b.loop.activeMs - a.loop.activeMs);
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

/**
 * Every run without the norm bound (staged and data-parallel alike), like for like. Every
 * split job overlaps a step's commit with the next mini-batch now, the bound's too: the
 * cnn's early transient (about step 17) is clipped to the bound rather than refused
 * (docs/byzantine.md, "Early transients").
 */
const BENCH_SPEC = { normBound: 0 };

/** Every row's wire and batch (`--codec`, `--batch`): the API's fp32 by default, `topk-packed` the built-in job's (with pull deltas); the preset's batch by default. */
type Wire = Pick<JobSpecInput, 'codec' | 'topkRatio' | 'batchSize' | 'pipelineDepth'>;

async function staged(model: ModelPresetName, replicas: number, stages: number, microbatches: number, seconds: number, wire: Wire, large: LargeSetup | null, cpuProfileDir: string | undefined): Promise<Result> {
  const run = await startCoordinator({ model, stages, microbatches, epochs: 100, ...BENCH_SPEC, ...wire, ...large?.spec }, {}, { ps: large?.ps });
  const ps: StageProcess[] = [];
  try {
    for (let i = 0; i < replicas * stages; i++) ps.push(await forkStage(run.url));
    await reports(ps, (r) => r.stage !== null && r.busyMs >= WARM_UP_BUSY_MS);
    // The window opens at reports taken after the warm-up.
    const a = await snapshotWhen(run.job, (_, __, r) => r.wallMs > 0 && r.busyMs > 0);
    const loopsBefore = await sample(ps, cpuProfileDir ? 'start' : undefined);
    const before = run.job.stats.examplesSeen;
    const cpuBefore = machineCpu();
    const t0 = performance.now();
    const b = await snapshotAfter(run.job, a, seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpuBusy = busyShare(cpuBefore, machineCpu());
    const profileTo = (p: StageProcess) => join(cpuProfileDir!, `${model}-${replicas}x${stages}-${p.latest!.replicaId}-stage${p.latest!.stage}.cpuprofile`);
    const loopsAfter = await sample(ps, cpuProfileDir ? profileTo : undefined);
    const loops = loopIdle(loopsBefore, loopsAfter);
    // In the order windowFigures gives its per-replica figures.
    const replicaIds = [...a.keys()];
    const f = windowFigures(a, b);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const bottleneck = mean(f.bottleneckBubbles);
    const { bound, target } = gpipeBound(stages, microbatches);
    if (f.stageBubbles.length !== replicas) throw new Error(`${f.stageBubbles.length} replicas formed, not ${replicas}`);
    return {
      model,
      replicas,
      stages,
      microbatches,
      path: 'relay',
      examples_per_s: (run.job.stats.examplesSeen - before) / elapsed,
      bubble: mean(f.stageBubbles.flat()),
      bottleneck_bubble: bottleneck,
      bubble_target: target,
      target_met: bottleneck <= target,
      stage_bubbles: f.stageBubbles[0]!,
      boundary_bytes_per_example: f.boundaryBytesPerExample,
      gpipe_bound: bound,
      stage_phases: f.stagePhases[0]!,
      stage_loop_idle: loops.get(replicaIds[0]!)!,
      bottleneck_loop_idle: mean(f.bottleneckStages.map((stage, i) => loops.get(replicaIds[i]!)![stage]!)),
      ...(cpuProfileDir ? { stage_cpu_profile: perStage(loopsAfter, (r) => r.profile!).get(replicaIds[0]!)! } : {}),
      ...(large ? { ps_tasks: large.ps } : {}),
      machine_cpu_busy: cpuBusy,
    };
  } finally {
    for (const p of ps) p.child.kill('SIGKILL');
    await Promise.all(ps.map((p) => p.exited));
    await run.close();
  }
}

async function dataParallel(model: ModelPresetName, workers: number, seconds: number, wire: Wire): Promise<Result> {
  const run = await startCoordinator({ model, epochs: 100, ...BENCH_SPEC, ...wire });
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
    const cpuBefore = machineCpu();
    const t0 = performance.now();
    await waitFor(() => performance.now() - t0 >= seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpuBusy = busyShare(cpuBefore, machineCpu());
    return { model, replicas: workers, stages: 1, microbatches: 1, path: 'data-parallel', examples_per_s: (contributed() - before) / elapsed, bubble: null, bottleneck_bubble: null, bubble_target: null, target_met: null, stage_bubbles: null, boundary_bytes_per_example: null, gpipe_bound: null, machine_cpu_busy: cpuBusy };
  } finally {
    await pool.close();
    await run.close();
  }
}

function stagedLine(r: Result): string {
  return (
    `[pipeline] ${r.model} ${r.replicas} × ${r.stages} stages over ${r.path}${r.tabs ? ` (${r.tabs} tabs)` : ''}, M = ${r.microbatches}: ${r.examples_per_s.toFixed(0)} examples/s, ` +
    `bubble ${r.bubble!.toFixed(2)} (stages ${r.stage_bubbles!.map((b) => b.toFixed(2)).join(', ')}), bottleneck ${r.bottleneck_bubble!.toFixed(2)} ` +
    `(GPipe's bound ${r.gpipe_bound!.toFixed(2)}, target ≤ ${r.bubble_target!.toFixed(2)}: ${r.target_met ? 'met' : 'not met'}), ` +
    `${r.boundary_bytes_per_example?.toFixed(0) ?? '?'} B per example per boundary` +
    (r.stage_loop_idle ? `; event loop idle: stages ${r.stage_loop_idle.map((x) => x.toFixed(2)).join(', ')}, bottleneck ${r.bottleneck_loop_idle!.toFixed(2)}` : '') +
    cpuNote(r.machine_cpu_busy) +
    '\n'
  );
}

/** The machine's busy share, as the log line says it. */
function cpuNote(busy: number | null): string {
  return busy === null ? '' : `; machine's cores busy ${busy.toFixed(2)}`;
}

export function pipelineCommand(): Command {
  return new Command('pipeline')
    .description('model parallelism on the relay path: examples/s, bubble and bytes per boundary of 1 × 2 and 2 × 2 stages against 2 data-parallel workers, per model')
    .addOption(new Option('--model <presets...>', 'model presets (mlp-large runs on --ps tasks, 1 × 2 stages only)').choices(['mlp', 'cnn', 'mlp-large']).default(['mlp', 'cnn']))
    .option('--ps <n>', 'ps tasks the bench starts for mlp-large (it is over one task and one worker)', integer(2, 16), 2)
    .option('--microbatches <m>', 'micro-batches per mini-batch (M)', integer(1, 64), 4)
    .option('--seconds <n>', 'measured time per run, after warm-up', integer(5, 600), 20)
    .option('--batch <n>', "every row's mini-batch size (the preset's when left out); micro-batches are batch ÷ M", integer(1, 4096))
    .addOption(new Option('--codec <codec>', "every row's push codec (topk-packed: the built-in job's wire, with pull deltas)").choices([...CODEC_IDS]).default('fp32'))
    .option('--pipeline-depth <d>', `mini-batches a replica keeps in flight (the job's pipelineDepth; default ${DEFAULT_PIPELINE_DEPTH})`, integer(1, MAX_PIPELINE_DEPTH), DEFAULT_PIPELINE_DEPTH)
    .option('--cpu-profile <dir>', "write each Node stage's CPU profile over the window to <dir> and print what its thread did (bench/stage-profile.ts)")
    .addOption(new Option('--tabs <driver>', "the browser run's tabs: bare Chromiums with no DevTools protocol client, as volunteers' are, or pages driven by Playwright, as the farm's are (it has every WebSocket frame copied to it)").choices(['bare', 'playwright']).default('bare'))
    .option('--no-browser', 'skip the browser run (two Chromium tabs linked by WebRTC, the first model)')
    .action(async (o: { model: ModelPresetName[]; microbatches: number; seconds: number; browser: boolean; ps: number; codec: string; batch?: number; pipelineDepth: number; cpuProfile?: string; tabs: TabDriver }) => {
      const cpuProfileDir = o.cpuProfile ? resolve(o.cpuProfile) : undefined;
      if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
      const wire = { ...builtinJobWire(o.codec), ...(o.batch ? { batchSize: o.batch } : {}), pipelineDepth: o.pipelineDepth } as Wire;
      const results: object[] = [];
      for (const model of o.model) {
        const large = model === 'mlp-large' ? largeSetup(o.ps) : null;
        for (const [replicas, stages] of large ? ([[1, 2]] as const) : ([[1, 2], [2, 2]] as const)) {
          const r = await staged(model, replicas, stages, o.microbatches, o.seconds, wire, large, cpuProfileDir);
          results.push(r);
          process.stderr.write(stagedLine(r) + phasesLines(r.stage_phases) + (r.stage_cpu_profile ?? []).map((s, i) => sharesLine(i, s)).join(''));
        }
        if (large) {
          const r = dataParallelOverBudget(model, o.ps);
          results.push(r);
          process.stderr.write(`[pipeline] ${model} 2 data-parallel workers: skipped: ${r.skipped}\n`);
        } else {
          const r = await dataParallel(model, 2, o.seconds, wire);
          results.push(r);
          process.stderr.write(`[pipeline] ${model} 2 data-parallel workers: ${r.examples_per_s.toFixed(0)} examples/s${cpuNote(r.machine_cpu_busy)}\n`);
        }
      }
      if (o.browser && o.model[0] !== 'mlp-large') {
        const r = await browserStaged(o.model[0]!, o.microbatches, o.seconds, wire, o.tabs);
        results.push(r);
        process.stderr.write(stagedLine(r) + phasesLines(r.stage_phases));
      }
      process.stdout.write(`${JSON.stringify({ bench: 'pipeline', codec: o.codec, batch: o.batch ?? null, pipeline_depth: o.pipelineDepth, results })}\n`);
    });
}
