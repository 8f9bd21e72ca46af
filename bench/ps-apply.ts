/**
 * ps-apply: how fast the parameter server applies a gradient, against how fast the
 * same machinery merely copies one. A 1,000,000-parameter model (four tensors) in a
 * real ParameterStore, on three engines (server/params/apply-engine.ts): the
 * JavaScript reference loops, the SIMD kernels on the event loop, and the SIMD kernels
 * split over the apply pool's --threads (default: what the coordinator uses here).
 *
 * Per engine and optimizer, two things are timed (ps-apply-cases.ts):
 * - apply: store.apply() of a gradient already in the store's gradient buffer (and so
 *   in cache);
 * - push: the coordinator's push path, the gradient gate decoding a fresh fp32 payload
 *   (none of it in cache) into the gradient buffer, checking its norm, then the apply
 *   of the decoded gradient.
 * Each engine's baseline is a copy of the same 4 MB (each tensor's gradient into its
 * values) run by that engine on its threads: Float32Array.prototype.set for the
 * JavaScript engine, the copy kernel for the SIMD kernels, split over the pool like an
 * apply for the pooled engine. Throughput is gradient bytes per second (4 bytes per
 * parameter per call); ratio = GB/s / the matching copy's GB/s. Beside the copy, each
 * engine's norm of the same gradient (the gate's finiteness and norm-bound pass) is
 * timed alone. Every case, copies included, is timed call by call in interleaved
 * rounds and its fastest call counts.
 *
 * The target (issue 12): Adagrad and Adam apply at ≥ 0.25 of the matching copy;
 * `target_met` says per row whether the apply meets it, `push_target_met` whether the
 * whole push path would.
 */
import { Command } from 'commander';
import { integer } from '../server/cli-args.js';
import { DEFAULT_APPLY_SETTINGS, type ApplySettings } from '../server/params/apply-engine.js';
import { engineCases, OPTIMIZERS, PARAMS, pushRing, storeCases, timeInterleaved, type Timed } from './ps-apply-cases.js';

interface Options {
  iterations: number;
  runs: number;
  threads: number;
  pushRingMb: number;
}

/** Issue 12: an optimizer apply at a quarter of the matching copy's throughput or better. */
const TARGET = 0.25;
const TARGET_OPTIMIZERS: readonly string[] = ['adagrad', 'adam'];

const log = (msg: string) => process.stderr.write(`[ps-apply] ${msg}\n`);
const gbs = (c: Timed) => (PARAMS * 4) / c.bestNs;
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const engineLabel = (e: { kernels: string; threads: number }) => `${e.kernels}×${e.threads}`;

function run(opts: Options): void {
  const settings: ApplySettings[] = [
    { ...DEFAULT_APPLY_SETTINGS, kernels: 'js', threads: 1 },
    { ...DEFAULT_APPLY_SETTINGS, kernels: 'wasm', threads: 1 },
    ...(opts.threads > 1 ? [{ ...DEFAULT_APPLY_SETTINGS, kernels: 'wasm' as const, threads: opts.threads }] : []),
  ];
  const ring = pushRing(opts.pushRingMb);
  log(`${ring.payloads} distinct fp32 push payloads, ${((ring.payloads * PARAMS * 4) / 2 ** 20).toFixed(0)} MB in all`);
  const engines = settings.map(engineCases);
  const copies = engines.map((e) => e.copy);
  const stores = settings.flatMap((apply) => OPTIMIZERS.map((type) => storeCases(type, apply, ring)));
  timeInterleaved([...engines.flatMap((e) => [e.copy, e.norm]), ...stores.flatMap((s) => [s.apply, s.push])], opts.iterations, opts.runs);

  // A pool that retired mid-run would have timed some calls on one thread: no honest figure then.
  for (const c of [...copies, ...stores]) {
    if (c.engine.threads !== c.threads) throw new Error(`the apply pool retired during the run (${engineLabel(c.engine)}, was ${c.threads} threads)`);
  }
  const copyRows = copies.map((c) => ({ kernels: c.engine.kernels, threads: c.threads, gbs: gbs(c) }));
  const normRows = engines.map((e) => ({ kernels: e.copy.engine.kernels, threads: e.copy.threads, gbs: gbs(e.norm), ms: e.norm.bestNs / 1e6 }));
  copyRows.forEach((c, i) => log(`copy on ${engineLabel(c)}: ${c.gbs.toFixed(2)} GB/s; norm ${normRows[i]!.gbs.toFixed(2)} GB/s (${normRows[i]!.ms.toFixed(3)} ms)`));
  const results = stores.map((s) => {
    const copy = copyRows.find((c) => c.kernels === s.engine.kernels && c.threads === s.threads);
    if (!copy) throw new Error(`no copy on ${engineLabel(s.engine)} to compare with`);
    const [apply, push] = [gbs(s.apply), gbs(s.push)];
    const targeted = TARGET_OPTIMIZERS.includes(s.optimizer);
    log(
      `${s.optimizer} on ${engineLabel(copy)}: apply ${apply.toFixed(2)} GB/s (${(apply / copy.gbs).toFixed(3)} of the copy), ` +
        `push ${push.toFixed(2)} GB/s (${(push / copy.gbs).toFixed(3)}) after ${s.store.version} applies`,
    );
    s.store.dispose();
    return {
      optimizer: s.optimizer,
      kernels: copy.kernels,
      threads: copy.threads,
      gbs: round(apply),
      copy_gbs: round(copy.gbs),
      ratio: round(apply / copy.gbs),
      push_gbs: round(push),
      push_ratio: round(push / copy.gbs),
      target_met: targeted ? apply / copy.gbs >= TARGET : null,
      push_target_met: targeted ? push / copy.gbs >= TARGET : null,
    };
  });
  copies.forEach((c) => c.engine.dispose());

  for (const c of copyRows) {
    const rows = results.filter((r) => r.kernels === c.kernels && r.threads === c.threads && r.target_met !== null);
    const verdict = (met: boolean[], ratios: number[]) => `${met.every(Boolean) ? 'met' : 'NOT met'} (${ratios.join(', ')})`;
    log(
      `target ≥ ${TARGET} of the matching copy (${rows.map((r) => r.optimizer).join(', ')}) on ${engineLabel(c)}: ` +
        `apply ${verdict(rows.map((r) => r.target_met!), rows.map((r) => r.ratio))}; ` +
        `push path ${verdict(rows.map((r) => r.push_target_met!), rows.map((r) => r.push_ratio))}`,
    );
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'ps-apply',
      params: PARAMS,
      iterations: opts.iterations,
      runs: opts.runs,
      threads: opts.threads,
      push_payloads: ring.payloads,
      target: TARGET,
      // The one-thread copy the bench always reported: Float32Array.prototype.set (the JavaScript engine's).
      copy_gbs: round(copyRows[0]!.gbs),
      copies: copyRows.map((c) => ({ ...c, gbs: round(c.gbs) })),
      norms: normRows.map((n) => ({ kernels: n.kernels, threads: n.threads, gbs: round(n.gbs), ms: round(n.ms, 4) })),
      results,
    }) + '\n',
  );
}

export function psApplyCommand(): Command {
  return new Command('ps-apply')
    .description('SGD, Adagrad and Adam apply and push throughput (GB/s of gradient) on a 1M-parameter model vs a copy on the same engine and threads, and the norm per engine')
    .option('--iterations <n>', 'timed calls of every case per round', integer(1, 1_000_000), 50)
    .option('--runs <n>', 'rounds of --iterations timed calls of every case in turn; the fastest call counts', integer(1, 1_000_000), 7)
    .option('--threads <n>', 'apply pool threads of the third engine (1: none)', integer(1, 64), DEFAULT_APPLY_SETTINGS.threads)
    .option('--push-ring-mb <n>', 'push payloads rotate through at least this many MB (more than the last-level cache)', integer(64, 4096), 128)
    .action((opts: Options) => run(opts));
}
