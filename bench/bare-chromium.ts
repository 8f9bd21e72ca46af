/**
 * A headless Chromium with one page on its command line and no DevTools protocol client,
 * as a volunteer's browser is. Playwright enables the protocol's Network domain in every
 * page and worker it drives, and Chromium then copies each WebSocket frame to it (base64,
 * for binary): a tab's socket moves a 400 kB push several times slower so
 * (`npm run bench -- browser-socket`). Benches that measure what a tab sends use this; what
 * they read comes back through the coordinator or the page's own requests.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';

export interface BareChromium {
  /** Rejects if Chromium exits before close(). */
  readonly exited: Promise<never>;
  close(): Promise<void>;
}

export function launchBareChromium(url: string): BareChromium {
  const profile = mkdtempSync(join(tmpdir(), 'downpour-bare-chromium-'));
  // --no-sandbox as Playwright passes it by default (Chromium refuses root without it).
  const browser = spawn(findChromium(), [...CHROMIUM_ARGS, '--headless', '--no-sandbox', `--user-data-dir=${profile}`, url], {
    stdio: 'ignore',
    // Its own process group, so its helper processes stop with it before its profile is removed.
    detached: true,
  });
  let closing = false;
  const ended = new Promise<void>((resolve) => {
    browser.once('exit', () => resolve());
    browser.once('error', () => resolve());
  });
  const exited = ended.then(() => {
    throw new Error(closing ? 'Chromium was closed' : `Chromium exited (${browser.exitCode ?? browser.signalCode})`);
  });
  exited.catch(() => {}); // awaited by callers that race it; unobserved otherwise
  return {
    exited,
    async close() {
      closing = true;
      try {
        process.kill(-browser.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await ended;
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
