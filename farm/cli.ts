/**
 * `npm run farm -- --url URL --workers N [--browsers K] [--backend B] [--headful]
 * [--duration S] [--summary FILE]`: N headless Chromium workers on this machine for a
 * coordinator, a live table on the terminal, crashed pages restarted, every browser
 * closed on SIGINT/SIGTERM, and a JSON summary at exit. A burst of signals (a group
 * stop, npm's relay of it) is one stop; a signal after the burst exits at once.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BACKENDS } from '../shared/protocol.js';
import { onStopSignals } from '../server/process/stop-signals.js';
import { ChromiumNotFoundError } from './chromium.js';
import { Fleet } from './fleet.js';
import { buildSummary, writeSummary } from './summary.js';
import { renderTable } from './table.js';
import { countOf } from '../shared/plural.js';

interface FarmOptions {
  url: string;
  workers: number;
  browsers?: number;
  backend?: string;
  headful: boolean;
  duration?: number;
  summary?: string;
}

const REFRESH_MS = 1000;
/** Without a terminal (CI logs, pipes) a redrawn table is noise: print it this often. */
const PIPED_REFRESH_MS = 10_000;
const FINAL_POLL_MS = 3000;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${value}"`);
  return n;
}

function coordinatorUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (e.g. http://localhost:3000/)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`expected an http(s) URL, got "${u.protocol}"`);
  return u.toString();
}

function summaryFile(value: string): string {
  const file = resolve(value);
  const dir = dirname(file);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`the directory ${dir} does not exist`);
  if (existsSync(file) && statSync(file).isDirectory()) throw new InvalidArgumentError(`${file} is a directory`);
  return file;
}

function parseArgs(argv: string[]): FarmOptions {
  const program = new Command('farm')
    .description('Run headless Chromium Downpour workers on this machine')
    .requiredOption('--url <url>', 'coordinator page URL, e.g. http://localhost:3000/', coordinatorUrl)
    .requiredOption('--workers <n>', 'worker pages to run', integer(1, 256))
    .option('--browsers <k>', 'browser processes to spread the pages over (default 1, at most --workers)', integer(1, 256))
    .addOption(new Option('--backend <name>', 'force this backend on every page (default: each page measures)').choices(BACKENDS))
    .option('--headful', 'show the browser windows', false)
    .option('--duration <s>', 'stop after this many seconds (default: until Ctrl-C / SIGTERM)', seconds)
    .option('--summary <file>', 'write a JSON summary here at exit', summaryFile)
    .showHelpAfterError();
  program.parse(argv);
  const opts = program.opts<FarmOptions>();
  if (opts.browsers !== undefined && opts.browsers > opts.workers) {
    program.error(`error: option '--browsers <k>' (${opts.browsers}) cannot exceed --workers (${opts.workers})`);
  }
  return opts;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), ms).unref())]);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv);
  const tty = process.stdout.isTTY === true;
  const startedAt = Date.now();
  const note = (msg: string) => process.stderr.write(`[farm] ${msg}\n`);
  const launching = Fleet.launch({
    url: opts.url,
    workers: opts.workers,
    browsers: opts.browsers,
    backend: opts.backend,
    headless: !opts.headful,
    onPageError: (i, m) => note(`worker ${i} page error: ${m}`),
    onEvent: (i, m) => note(`worker ${i}: ${m}`),
  });

  let ticker: ReturnType<typeof setInterval> | undefined;
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    note(`stopping (${why}); closing every browser`);
    // A failed launch closed what it started, and main() reports it.
    const fleet = await launching.catch(() => null);
    if (!fleet) return;
    fleet.stopRestarting();
    const rows = (await withTimeout(fleet.poll(), FINAL_POLL_MS)) ?? fleet.snapshot();
    await fleet.close();
    const endedAt = Date.now();
    process.stdout.write(`${renderTable(rows, (endedAt - startedAt) / 1000, opts.url)}\n`);
    if (opts.summary) {
      writeSummary(opts.summary, buildSummary(opts.url, startedAt, endedAt, rows));
      note(`summary written to ${opts.summary}`);
    }
    process.exit(0);
  };

  // Before the browsers are up: a stop during start-up waits for them and closes them.
  onStopSignals({
    onStop: (signal) => void stop(signal),
    onForce: (signal, ms) => {
      note(`${signal} again after ${(ms / 1000).toFixed(1)} s: exiting without waiting`);
      process.exit(1); // Playwright's exit hook SIGKILLs the browsers
    },
  });

  const fleet = await launching;
  if (stopping) return; // stop() has the fleet now
  note(`${countOf(opts.workers, 'worker')} started in ${countOf(Math.min(opts.browsers ?? 1, opts.workers), 'browser')} against ${opts.url}`);

  let lastPrinted = 0;
  const draw = async () => {
    const rows = await fleet.poll();
    const now = Date.now();
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${renderTable(rows, (now - startedAt) / 1000, opts.url)}\n`);
    else if (now - lastPrinted >= PIPED_REFRESH_MS) {
      lastPrinted = now;
      process.stdout.write(`${renderTable(rows, (now - startedAt) / 1000, opts.url)}\n\n`);
    }
  };
  let drawing = false;
  ticker = setInterval(() => {
    if (drawing) return; // a slow poll must not pile up behind itself
    drawing = true;
    void draw().finally(() => (drawing = false));
  }, REFRESH_MS);
  if (opts.duration !== undefined) setTimeout(() => void stop(`--duration ${opts.duration} s elapsed`), opts.duration * 1000);
}

main().catch((err: unknown) => {
  const message = err instanceof ChromiumNotFoundError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`farm: ${message}\n`);
  process.exit(1);
});
