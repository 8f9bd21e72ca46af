/**
 * ps-apply: how fast the parameter server applies a gradient, against how fast the
 * same machine can merely copy one. A 1,000,000-parameter model (four tensors) in a
 * real ParameterStore; each optimizer applies the scratch gradient runs × iterations
 * times, in rounds interleaved with every other case, and the fastest single apply
 * counts (likewise for the copy). Throughput is gradient bytes processed per second
 * (4 bytes per parameter per apply); copy is Float32Array.prototype.set of the same
 * 4 MB, measured in the same process.
 * ratio = optimizer GB/s / copy GB/s.
 *
 * Each optimizer runs on three engines (server/params/apply-engine.ts): the JavaScript
 * reference loops, the SIMD kernels on the event loop, and the SIMD kernels split over
 * the apply pool's --threads (default: what the coordinator uses on this machine).
 * `results` are the coordinator's default engine; `engines` has all three.
 */
import { Command } from 'commander';
import { integer } from '../server/cli-args.js';
import { parseJobSpec, type OptimizerType } from '../shared/job-spec.js';
import { sizeOf, type TensorSpec } from '../shared/tensors.js';
import { createOptimizer } from '../server/params/optimizers.js';
import { ParameterStore } from '../server/params/parameter-store.js';
import { DEFAULT_APPLY_SETTINGS, type ApplySettings } from '../server/params/apply-engine.js';

interface Options {
  iterations: number;
  runs: number;
  threads: number;
}


const log = (msg: string) => process.stderr.write(`[ps-apply] ${msg}\n`);

/** 784·1000 + 1000 + 1000·214 + 1000 = 1,000,000 parameters. */
const MODEL: TensorSpec[] = [
  { name: 'dense1/kernel', shape: [784, 1000] },
  { name: 'dense1/bias', shape: [1000] },
  { name: 'dense2/kernel', shape: [1000, 214] },
  { name: 'dense2/bias', shape: [1000] },
];
const PARAMS = MODEL.reduce((n, s) => n + sizeOf(s.shape), 0);
const OPTIMIZERS: OptimizerType[] = ['sgd', 'adagrad', 'adam'];

/** Something timed: the copy, or one optimizer on one engine. */
interface Case {
  fn: () => void;
  bestNs: number;
}

/**
 * The fastest single call of each case, timing every call alone, over `runs` rounds
 * in which every case takes `iterations` calls in turn. Per call, not per run: on a
 * shared machine a 4 ms copy run fits between two preemptions while a 200 ms
 * optimizer run does not, which would flatter the copy. Interleaved rounds: this
 * machine's speed drifts by ±20 % over seconds (other tenants), and every case,
 * the copy included, gets the same windows.
 */
function timeInterleaved(cases: Case[], iterations: number, runs: number): void {
  for (const c of cases) for (let i = 0; i < Math.max(3, iterations >> 2); i++) c.fn(); // let the JIT optimise first
  for (let r = 0; r < runs; r++) {
    for (const c of cases) {
      for (let n = 0; n < iterations; n++) {
        const t0 = process.hrtime.bigint();
        c.fn();
        const ns = Number(process.hrtime.bigint() - t0);
        if (ns < c.bestNs) c.bestNs = ns;
      }
    }
  }
}

const gbs = (bestNs: number) => (PARAMS * 4) / bestNs;
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

function run(opts: Options): void {
  if (PARAMS !== 1_000_000) throw new Error(`model has ${PARAMS} parameters`);
  // Small, varied gradients and parameters: realistic magnitudes, no denormals, no NaN.
  const initial = MODEL.map((s) => Float32Array.from({ length: sizeOf(s.shape) }, (_, i) => Math.sin(i) * 0.05));
  const gradient = MODEL.map((s) => Float32Array.from({ length: sizeOf(s.shape) }, (_, i) => Math.cos(i * 0.7) * 1e-3));

  const src = new Float32Array(PARAMS).fill(1);
  const dst = new Float32Array(PARAMS);
  const copy: Case = { fn: () => dst.set(src), bestNs: Infinity };

  const engines: ApplySettings[] = [
    { ...DEFAULT_APPLY_SETTINGS, kernels: 'js', threads: 1 },
    { ...DEFAULT_APPLY_SETTINGS, kernels: 'wasm', threads: 1 },
    ...(opts.threads > 1 ? [{ ...DEFAULT_APPLY_SETTINGS, kernels: 'wasm' as const, threads: opts.threads }] : []),
  ];
  const stores = engines.flatMap((apply) =>
    OPTIMIZERS.map((type) => {
      const spec = parseJobSpec({ optimizer: { type, learningRate: 1e-6 } });
      if (!spec.ok) throw new Error(spec.message);
      const store = new ParameterStore(MODEL, initial, createOptimizer(spec.value.optimizer), { apply });
      store.tensors.forEach((t, i) => t.scratch.set(gradient[i]!));
      const c: Case = { fn: () => store.applyScratch(), bestNs: Infinity };
      return { type, store, case: c };
    }),
  );
  timeInterleaved([copy, ...stores.map((s) => s.case)], opts.iterations, opts.runs);

  const copyGbs = gbs(copy.bestNs);
  log(`copy ${copyGbs.toFixed(2)} GB/s`);
  const byEngine = stores.map(({ type, store, case: c }) => {
    const g = gbs(c.bestNs);
    const { kernels, threads } = store.engine;
    store.dispose();
    log(`${type} on ${kernels}×${threads}: ${g.toFixed(2)} GB/s (${(g / copyGbs).toFixed(3)} of copy) after ${store.version} applies`);
    return { optimizer: type, kernels, threads, gbs: round(g, 3), ratio: round(g / copyGbs, 3) };
  });
  const results = byEngine.filter((r) => r.kernels === 'wasm' && r.threads === opts.threads).map(({ optimizer, gbs, ratio }) => ({ optimizer, gbs, ratio }));
  process.stdout.write(
    JSON.stringify({
      bench: 'ps-apply',
      params: PARAMS,
      iterations: opts.iterations,
      runs: opts.runs,
      threads: opts.threads,
      copy_gbs: round(copyGbs, 3),
      results,
      engines: byEngine,
    }) + '\n',
  );
}

export function psApplyCommand(): Command {
  return new Command('ps-apply')
    .description('SGD, Adagrad and Adam apply throughput (GB/s of gradient) on a 1M-parameter model vs a Float32Array copy')
    .option('--iterations <n>', 'timed applies per run', integer(1, 1_000_000), 50)
    .option('--runs <n>', 'rounds of --iterations timed applies of every case in turn; the fastest apply counts', integer(1, 1_000_000), 7)
    .option('--threads <n>', 'apply pool threads of the third engine (1: none)', integer(1, 64), DEFAULT_APPLY_SETTINGS.threads)
    .action((opts: Options) => run(opts));
}
