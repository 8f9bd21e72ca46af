/**
 * overhead: the cost of training through the coordinator. Both sides run the same
 * training engine in the same Web Worker of a headless tab (client/bench.html): same
 * model, forced backend, batch size, lease → shard → batches loop and status counters;
 * only the exchange differs. standalone: a local tfjs optimizer step per batch, nothing
 * sent (StandaloneExchange); distributed: the job's own exchange, every gradient pushed
 * to the PS and parameters pulled back. Both are timed by one function over the same
 * batches, in interleaved rounds (A B, B A, …) because this VM's speed drifts by ±20 %
 * over tens of seconds; ratio = the median of the rounds' distributed / standalone.
 */
import { Command, Option } from 'commander';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { EngineExchange } from '../client/engine/engine-messages.js';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import { integer } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { MODEL_PRESET_NAMES } from '../shared/job-spec.js';
import { BACKENDS } from '../shared/protocol.js';

interface Options {
  model: string;
  backend: string;
  steps: number;
  warmup: number;
  rounds: number;
  /** The job's norm bound and direction check on (the default) or off. */
  psDefences: boolean;
}

/** Issue 12: training through the coordinator keeps at least this fraction of standalone speed. */
const TARGET_RATIO = 0.95;
/** A side that completes no mini-batch for this long has failed (page load and backend start included). */
const STALL_MS = 180_000;

type Side = 'standalone' | 'distributed';
const EXCHANGE_OF: Record<Side, EngineExchange> = { standalone: 'standalone', distributed: 'job' };

const log = (msg: string) => process.stderr.write(`[overhead] ${msg}\n`);

/**
 * Examples/s of the page's engine over `steps` mini-batches after its first `warmup`,
 * timed in the page from the engine's status: the change in examplesContributed
 * between the status that first shows `warmup` batches and the one that first shows
 * `warmup + steps`. Fails on the engine's error state or a fatal, and on a stall. A
 * string, not a function: tsx's esbuild helpers (__name) do not exist in the page.
 */
async function engineEps(page: Page, warmup: number, steps: number): Promise<number> {
  return page.evaluate(`(async () => {
    let lastBatches = -1;
    let lastProgress = performance.now();
    const until = async (ok) => {
      for (;;) {
        const d = window.downpour;
        if (d && d.fatal) throw new Error('engine failed: ' + d.fatal);
        const s = d && d.status;
        if (s && s.state === 'error') throw new Error('engine error: ' + s.message);
        if (s && s.batches !== lastBatches) {
          lastBatches = s.batches;
          lastProgress = performance.now();
        }
        if (performance.now() - lastProgress > ${STALL_MS}) throw new Error('no mini-batch for ${STALL_MS / 1000} s (state ' + (s && s.state) + ')');
        if (s && ok(s)) return s;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // The status object is replaced per report: copy the counters, not the reference.
    const a = { ...(await until((s) => s.batches >= ${warmup})) };
    const t0 = performance.now();
    const b = { ...(await until((s) => s.batches >= a.batches + ${steps})) };
    const t1 = performance.now();
    return ((b.examplesContributed - a.examplesContributed) * 1000) / (t1 - t0);
  })()`);
}

/** One side, timed in a fresh tab (its own Web Worker, backend start, socket and leases). */
async function measure(browser: Browser, url: string, side: Side, opts: Options): Promise<number> {
  const page = await browser.newPage();
  try {
    await page.goto(`${url}bench.html?backend=${opts.backend}&exchange=${EXCHANGE_OF[side]}`);
    return await engineEps(page, opts.warmup, opts.steps);
  } finally {
    await page.close();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function run(opts: Options): Promise<void> {
  setLogLevel('warn');
  await buildClientIfNeeded();
  const coordinator = createCoordinator();
  // The job's defaults, defences included: the parameter server computes its own gradients for the norm bound's
  // reference and the direction check, which on a 2-core machine competes with the tab (--no-ps-defences: off).
  const defences = opts.psDefences ? {} : { normBound: 0, directionThreshold: null };
  const created = await coordinator.createJob({ name: 'overhead bench', model: opts.model, evalIntervalSeconds: 3600, ...defences });
  if (!created.ok) throw new Error(created.message);
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  try {
    const eps: Record<Side, number[]> = { standalone: [], distributed: [] };
    const ratios: number[] = [];
    log(`${opts.model} on ${opts.backend}, batch ${created.job.spec.batchSize}: ${opts.rounds} rounds of ${opts.steps} timed mini-batches a side after ${opts.warmup}`);
    for (let r = 0; r < opts.rounds; r++) {
      // A B, then B A: neither side always runs first, in the warmer or cooler window.
      const order: Side[] = r % 2 === 0 ? ['standalone', 'distributed'] : ['distributed', 'standalone'];
      const got = {} as Record<Side, number>;
      for (const side of order) got[side] = await measure(browser, url, side, opts);
      eps.standalone.push(got.standalone);
      eps.distributed.push(got.distributed);
      ratios.push(got.distributed / got.standalone);
      log(`round ${r + 1}/${opts.rounds} (${order.join(' then ')}): standalone ${got.standalone.toFixed(1)} ex/s, distributed ${got.distributed.toFixed(1)} ex/s, ratio ${ratios.at(-1)!.toFixed(3)}`);
    }

    const round1 = (x: number) => Math.round(x * 10) / 10;
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    const ratio = round3(median(ratios));
    const targetMet = ratio >= TARGET_RATIO;
    log(
      targetMet
        ? `target met: median ratio ${ratio} ≥ ${TARGET_RATIO}`
        : `TARGET MISSED: median ratio ${ratio} < ${TARGET_RATIO}: through the coordinator this tab trains at ${ratio} of its standalone speed`,
    );
    process.stdout.write(
      JSON.stringify({
        bench: 'overhead',
        backend: opts.backend,
        model: opts.model,
        steps: opts.steps,
        batch_size: created.job.spec.batchSize,
        ps_defences: opts.psDefences,
        standalone_eps: round1(median(eps.standalone)),
        distributed_eps: round1(median(eps.distributed)),
        ratio,
        target: TARGET_RATIO,
        target_met: targetMet,
        rounds: opts.rounds,
        ratios: ratios.map(round3),
      }) + '\n',
    );
  } finally {
    await browser.close();
    await coordinator.close();
  }
}

export function overheadCommand(): Command {
  return new Command('overhead')
    .description('standalone vs through-the-coordinator training speed of the same engine in one headless tab')
    .addOption(new Option('--model <preset>', 'model preset').choices(MODEL_PRESET_NAMES).default('cnn'))
    .addOption(new Option('--backend <name>', 'tfjs backend for both sides').choices(BACKENDS).default('wasm'))
    .option('--steps <n>', 'timed mini-batches per side per round', integer(1, 1_000_000), 200)
    .option('--warmup <n>', 'untimed mini-batches first, in each fresh tab', integer(1, 1_000_000), 10)
    .option('--no-ps-defences', "turn the job's norm bound and direction check off (the PS then computes no gradients of its own)")
    .option('--rounds <n>', 'interleaved rounds (one timed run of each side); the median ratio is reported', integer(1, 1000), 5)
    .action((opts: Options) => run(opts));
}
