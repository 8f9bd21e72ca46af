/**
 * `npm test`'s runners, one after the other: vitest, then Playwright even when vitest
 * failed, so a red unit test does not hide what the browser tests say (CI sums both
 * reports into its "N passed, N failed" line, .ci/count-results.mjs). Exits non-zero if
 * either failed.
 *
 * A terminal's Ctrl-C reaches this process and the runner alike (one foreground group):
 * the runner stops itself, and this one then starts nothing more.
 */
import { spawn } from 'node:child_process';

const RUNNERS: [string, string[]][] = [
  ['vitest', ['run']],
  ['playwright', ['test']],
];

let interrupted = false;
// The runner gets the same signal and stops on its own; this process waits for it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (interrupted = true));

function run(bin: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', bin, ...args], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

let status = 0;
for (const [bin, args] of RUNNERS) {
  if (interrupted) break;
  const r = await run(bin, args);
  if (r.signal || interrupted) {
    status = 130;
    break;
  }
  if (r.code !== 0) status = r.code ?? 1;
}
process.exit(status);
