/**
 * upload-stall: the longest the coordinator's event loop is held while it takes a large
 * CSV upload (parsed as it streams in, checked whole, written atomically). Workers'
 * pushes and the dashboard share that loop, so a parse that held it for seconds would
 * stall training. The client streams the body from the same process, 64 KiB as the
 * socket drains, so what is measured is the coordinator's work, not a client's copy.
 */
import { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { integer } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { bigCsv, streamUpload } from '../test-support/uploads.js';

/** The coordinator's event loop is never held longer than this by an upload. */
const TARGET_MS = 200;

interface Options {
  mb: number;
  runs: number;
}

const log = (msg: string) => process.stderr.write(`[upload-stall] ${msg}\n`);

async function run(opts: Options): Promise<void> {
  setLogLevel('warn');
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-upload-stall-'));
  const token = 'upload-stall';
  const coordinator = createCoordinator({ operatorToken: token, dataDir });
  try {
    const url = (await coordinator.listen(0, '127.0.0.1')).url.replace(/\/$/, '');
    const csv = bigCsv(opts.mb);
    await fetch(`${url}/api/datasets`); // the built-in datasets load on the first listing, not during the upload
    const results: { max_ms: number; p99_ms: number; seconds: number }[] = [];
    for (let r = 0; r < opts.runs; r++) {
      const delay = monitorEventLoopDelay({ resolution: 10 });
      const t0 = performance.now();
      delay.enable();
      const answer = await streamUpload(url, token, `big-${r}`, csv);
      delay.disable();
      if (answer.status !== 201) throw new Error(`upload refused: ${answer.status} ${JSON.stringify(answer.body)}`);
      results.push({ max_ms: round1(delay.max / 1e6), p99_ms: round1(delay.percentile(99) / 1e6), seconds: round1((performance.now() - t0) / 1000) });
      log(`run ${r + 1}/${opts.runs}: longest hold ${results.at(-1)!.max_ms} ms, p99 ${results.at(-1)!.p99_ms} ms, ${results.at(-1)!.seconds} s`);
    }
    const worst = Math.max(...results.map((x) => x.max_ms));
    const met = worst < TARGET_MS;
    log(met ? `target met: longest hold ${worst} ms < ${TARGET_MS} ms` : `target NOT met: longest hold ${worst} ms ≥ ${TARGET_MS} ms`);
    process.stdout.write(`${JSON.stringify({ bench: 'upload-stall', bytes: csv.length, runs: results, max_ms: worst, target_ms: TARGET_MS, target_met: met })}\n`);
  } finally {
    await coordinator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

export function uploadStallCommand(): Command {
  return new Command('upload-stall')
    .description("the longest hold on the coordinator's event loop while it takes a large CSV upload")
    .option('--mb <n>', 'size of the upload in MiB (the limit is 50)', integer(1, 49), 49)
    .option('--runs <n>', 'uploads, one after another', integer(1, 20), 3)
    .action((opts: Options) => run(opts));
}
