/**
 * overhead: the cost of training through the coordinator. The same model, backend
 * and batch size train for the same number of steps (a) standalone in one headless
 * tab with a local optimizer and (b) as one Downpour worker pushing every gradient to
 * the PS and pulling parameters back, in the same run. ratio = distributed / standalone.
 */
import { Command, Option } from 'commander';
import { integer } from '../server/cli-args.js';
import { chromium, type Page } from 'playwright-core';
import { MODEL_PRESET_NAMES } from '../shared/job-spec.js';
import { BACKENDS } from '../shared/protocol.js';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';

interface Options {
  model: string;
  backend: string;
  steps: number;
  warmup: number;
}


const log = (msg: string) => process.stderr.write(`[overhead] ${msg}\n`);

/**
 * Examples/s of the worker page over `steps` batches after `warmup` batches, timed in
 * the page. A string, not a function: tsx's esbuild helpers (__name) do not exist there.
 */
async function distributedEps(page: Page, warmup: number, steps: number): Promise<number> {
  return page.evaluate(`(async () => {
    const until = async (ok) => {
      for (;;) {
        const s = window.downpour && window.downpour.status;
        if (s && ok(s)) return s;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // The status object is live: copy the counters, not the reference.
    const a = { ...(await until((s) => s.batches >= ${warmup})) };
    const t0 = performance.now();
    const b = { ...(await until((s) => s.batches >= a.batches + ${steps})) };
    const t1 = performance.now();
    return ((b.examplesContributed - a.examplesContributed) * 1000) / (t1 - t0);
  })()`);
}

async function run(opts: Options): Promise<void> {
  setLogLevel('warn');
  await buildClientIfNeeded();
  const coordinator = createCoordinator();
  const created = await coordinator.createJob({ name: 'overhead bench', model: opts.model, evalIntervalSeconds: 3600 });
  if (!created.ok) throw new Error(created.message);
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  try {
    log(`standalone: ${opts.model} on ${opts.backend}, ${opts.steps} steps`);
    const solo = await browser.newPage();
    await solo.goto(`${url}bench.html?backend=${opts.backend}&steps=${opts.steps}&warmup=${opts.warmup}`);
    await solo.waitForFunction(() => 'benchResult' in window || 'benchError' in window, undefined, { timeout: 600_000 });
    const result = await solo.evaluate(() => {
      const w = window as unknown as { benchResult?: { examplesPerSecond: number }; benchError?: string };
      return { benchResult: w.benchResult, benchError: w.benchError };
    });
    if (!result.benchResult) throw new Error(`standalone run failed: ${result.benchError}`);
    const standalone = result.benchResult.examplesPerSecond;
    await solo.close();

    log(`distributed: one worker through the coordinator, ${opts.steps} steps`);
    const worker = await browser.newPage();
    await worker.goto(`${url}?backend=${opts.backend}&autostart=1`);
    const distributed = await distributedEps(worker, opts.warmup, opts.steps);
    await worker.close();

    const round = (x: number) => Math.round(x * 10) / 10;
    process.stdout.write(
      JSON.stringify({
        bench: 'overhead',
        backend: opts.backend,
        model: opts.model,
        steps: opts.steps,
        batch_size: created.job.spec.batchSize,
        standalone_eps: round(standalone),
        distributed_eps: round(distributed),
        ratio: Math.round((distributed / standalone) * 1000) / 1000,
      }) + '\n',
    );
  } finally {
    await browser.close();
    await coordinator.close();
  }
}

export function overheadCommand(): Command {
  return new Command('overhead')
    .description('standalone vs through-the-coordinator training speed in one headless tab')
    .addOption(new Option('--model <preset>', 'model preset').choices(MODEL_PRESET_NAMES).default('cnn'))
    .addOption(new Option('--backend <name>', 'tfjs backend for both runs').choices(BACKENDS).default('wasm'))
    .option('--steps <n>', 'timed mini-batches in each run', integer(1, 1_000_000), 200)
    .option('--warmup <n>', 'untimed mini-batches first', integer(1, 1_000_000), 10)
    .action((opts: Options) => run(opts));
}
