/**
 * ps-scale: how the parameter server's push throughput grows with ps tasks. For each
 * count in --tasks, a fresh cluster: that many ps task processes (as `npm start -- --ps
 * N` starts them), a coordinator using them as its chief, one job placed over them, and
 * simulated Node workers (ps-scale-client.ts, in child processes) that take the job's
 * route from the chief and push fp32 slices to every task as fast as the tasks ack. The
 * same model in every row: by default a dense 784-1024-1024-10 (1.86M parameters, 7.5 MB
 * of fp32), which one task still holds and which the placement splits evenly over two
 * (its two big kernels are partitioned by rows).
 *
 * Reports per row accepted pushes/s, ack latency (until the last task answered), the
 * bytes the tasks took per second, and the CPU seconds the tasks and the load generator
 * used over the push phase, also per accepted push (a figure a loaded machine changes
 * far less than the rates); the machine's load average rides along, since a shared
 * machine makes every figure provisional (docs/benchmarks.md, "ps-scale").
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { MAX_PS_TASKS } from '../shared/cluster-spec.js';
import { MODEL_PRESET_NAMES, type JobSpecInput } from '../shared/job-spec.js';
import { integer, number } from '../server/cli-args.js';
import { resolveClusterToken } from '../server/cluster/cluster-token.js';
import { startLocalPsTasks, type LocalPsTasks } from '../server/cluster/local-ps-tasks.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { initNodeTf, tf } from '../server/tf-node.js';
import { totalCpuSeconds } from './proc-cpu.js';
import type { PsScaleClientReport } from './ps-scale-client.js';

/** The default model: dense layers over MNIST's 784 pixels, 1.86M parameters. */
export const DEFAULT_SCALE_MODEL = 'dense-1024x2';

export interface PsScaleOptions {
  /** Task counts, one row each. Default [1, 2]. */
  tasks: number[];
  /** A model preset, or DEFAULT_SCALE_MODEL. */
  model: string;
  /** Simulated workers per row. Default 8. */
  workers: number;
  /** Length of each row's push phase. Default 20 s. */
  seconds: number;
  /** Load generator processes. Default 2. */
  procs: number;
}

export interface PsScaleRow {
  tasks: number;
  pushes_per_s: number;
  p50_ms: number;
  p99_ms: number;
  bytes_in_per_s: number;
  /** null where /proc cannot be read (not Linux). */
  cpu_s_tasks: number | null;
  cpu_s_load: number;
  /**
   * CPU ms of the tasks (all of them) and of the load generator per accepted push: what
   * the machine's load does not change (much), so what a loaded run can still compare.
   */
  cpu_ms_per_push_tasks: number | null;
  cpu_ms_per_push_load: number;
}

const log = (msg: string) => process.stderr.write(`[ps-scale] ${msg}\n`);
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** The job's model: a preset by name, or the default dense topology (built here, as an operator's upload would be). */
async function modelSpec(model: string): Promise<{ spec: JobSpecInput; topology: object | null }> {
  if (model !== DEFAULT_SCALE_MODEL) return { spec: { model: model as JobSpecInput['model'] }, topology: null };
  await initNodeTf();
  const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });
  const m = tf.sequential({
    name: DEFAULT_SCALE_MODEL,
    layers: [
      tf.layers.flatten({ name: 'flatten', inputShape: [28, 28, 1] }),
      tf.layers.dense({ name: 'dense1', units: 1024, activation: 'relu', kernelInitializer: glorot(1) }),
      tf.layers.dense({ name: 'dense2', units: 1024, activation: 'relu', kernelInitializer: glorot(2) }),
      tf.layers.dense({ name: 'output', units: 10, activation: 'softmax', kernelInitializer: glorot(3) }),
    ],
  });
  const topology = m.toJSON(undefined, false) as object;
  m.dispose();
  return { spec: { model: 'custom' }, topology };
}

async function runRow(o: PsScaleOptions, tasks: number): Promise<{ row: PsScaleRow; params: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'downpour-ps-scale-'));
  const token = resolveClusterToken({ dataDir: dir });
  if (!token.ok) throw new Error(token.message);
  // Every simulated worker comes from this one host: no per-address cap on the tasks or the coordinator (server/http/connection-cap.ts).
  const ps = await startLocalPsTasks({ tasks, dataDir: dir, logLevel: 'error', connectionsPerAddress: 0 });
  const coordinator = createCoordinator({ connectionsPerAddress: 0, cluster: { endpoints: [...ps.endpoints], token: token.token, supervisor: ps } });
  const children: ReturnType<typeof fork>[] = [];
  try {
    const { spec, topology } = await modelSpec(o.model);
    // Staleness and the defences are not what this measures: every push takes the tasks' full apply path.
    const created = await coordinator.createJob(
      { name: 'ps-scale', ...spec, maxStaleness: 1_000_000, normBound: 0, directionThreshold: null, evalIntervalSeconds: 3600, trustedRefreshSeconds: 3600 },
      { topology },
    );
    if (!created.ok) throw new Error(`${created.code}: ${created.message}`);
    const params = created.job.parameters.parameterCount;
    const { url } = await coordinator.listen(0, '127.0.0.1');
    const clientFile = fileURLToPath(new URL('./ps-scale-client.ts', import.meta.url));
    const procs = Math.max(1, Math.min(o.procs, o.workers));
    for (let i = 0; i < procs; i++) {
      const share = Math.floor(o.workers / procs) + (i < o.workers % procs ? 1 : 0);
      children.push(fork(clientFile, [url.replace(/\/$/, ''), String(share), String(o.seconds)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    }
    /** Every child's `type` message; a child that exits before sending its own fails the wait (one that sent it and exited does not). */
    const message = <T>(type: string, key: string) =>
      Promise.all(
        children.map(
          (c) =>
            new Promise<T>((resolve, reject) => {
              c.on('message', (m: Record<string, unknown>) => m.type === type && resolve(m[key] as T));
              c.once('exit', (code) => reject(new Error(`a load client exited (${code}) before it sent "${type}"`)));
            }),
        ),
      );
    const connected = await message<number>('connected', 'count');
    const workers = connected.reduce((a, b) => a + b, 0);
    if (!workers) throw new Error('no simulated worker connected');
    log(`${tasks} task(s), ${params} parameters: ${workers} workers over ${procs} processes pushing for ${o.seconds} s`);
    const cpuBefore = totalCpuSeconds(taskPids(ps));
    const started = performance.now();
    const reporting = message<PsScaleClientReport>('report', 'report');
    for (const c of children) c.send('go');
    const reports = await reporting;
    const elapsed = (performance.now() - started) / 1000;
    const cpuAfter = totalCpuSeconds(taskPids(ps));
    const latencies = reports.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const sum = (k: Exclude<keyof PsScaleClientReport, 'latenciesMs'>) => reports.reduce((n, r) => n + r[k], 0);
    log(JSON.stringify({ tasks, accepted: sum('accepted'), busy: sum('busy'), refused: sum('refused'), lost: sum('lost'), connect_failures: sum('connectFailures') }));
    const accepted = sum('accepted');
    const cpuTasks = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
    const row: PsScaleRow = {
      tasks,
      pushes_per_s: round1(accepted / elapsed),
      p50_ms: round1(percentile(latencies, 0.5)),
      p99_ms: round1(percentile(latencies, 0.99)),
      bytes_in_per_s: Math.round(sum('bytesAccepted') / elapsed),
      cpu_s_tasks: cpuTasks === null ? null : round2(cpuTasks),
      cpu_s_load: round2(sum('cpuSeconds')),
      cpu_ms_per_push_tasks: cpuTasks === null || !accepted ? null : round2((cpuTasks * 1000) / accepted),
      cpu_ms_per_push_load: accepted ? round2((sum('cpuSeconds') * 1000) / accepted) : 0,
    };
    return { row, params };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    await coordinator.close();
    await ps.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runPsScale(o: PsScaleOptions): Promise<{ bench: 'ps-scale'; model: string; params: number; results: PsScaleRow[]; loadavg: number[] }> {
  setLogLevel('error');
  const results: PsScaleRow[] = [];
  let params = 0;
  for (const tasks of o.tasks) {
    const r = await runRow(o, tasks);
    log(JSON.stringify(r.row));
    results.push(r.row);
    params = r.params;
  }
  return { bench: 'ps-scale', model: o.model, params, results, loadavg: loadavg().map(round2) };
}

/** The task processes' ids now (a bench run does not outlive a task restart, so none is missing). */
function taskPids(ps: LocalPsTasks): number[] {
  return ps.endpoints.map((_, t) => ps.pid(t)).filter((p): p is number => p !== undefined);
}

function taskCounts(value: string): number[] {
  const counts = value.split(',').map((v) => integer(1, MAX_PS_TASKS)(v.trim()));
  if (!counts.length) throw new InvalidArgumentError('expected task counts such as 1,2');
  return counts;
}

function modelName(value: string): string {
  if (value === DEFAULT_SCALE_MODEL || (MODEL_PRESET_NAMES as readonly string[]).includes(value)) return value;
  throw new InvalidArgumentError(`expected ${DEFAULT_SCALE_MODEL} or a preset (${MODEL_PRESET_NAMES.join(', ')}), got "${value}"`);
}

export function psScaleCommand(): Command {
  return new Command('ps-scale')
    .description('simulated workers pushing fp32 slices to 1, 2, … ps task processes as fast as they ack: does the PS scale with tasks?')
    .option('--tasks <list>', 'ps task counts, one row each', taskCounts, [1, 2])
    .option('--model <name>', `${DEFAULT_SCALE_MODEL} (784-1024-1024-10, 1.86M parameters) or a preset one task holds`, modelName, DEFAULT_SCALE_MODEL)
    .option('--workers <n>', 'simulated workers, each with one push in flight', integer(1, 10_000), 8)
    .option('--seconds <s>', "each row's push phase", number(1, 3600), 20)
    .option('--procs <n>', 'load generator processes', integer(1, 64), 2)
    .action(async (o: PsScaleOptions) => {
      process.stdout.write(JSON.stringify(await runPsScale(o)) + '\n');
    });
}
