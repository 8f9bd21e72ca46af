/**
 * Launches headless Chromium worker pages against a coordinator. Used by
 * `npm start -- --workers N` and by the benchmarks; the farm CLI builds on it.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from './chromium.js';

export interface LaunchOptions {
  /** Coordinator page URL, e.g. http://localhost:3000/ */
  url: string;
  workers: number;
  /** Force a backend on every page (`?backend=`); default: each page measures and picks. */
  backend?: string;
  headless?: boolean;
  /** Called with each page's uncaught errors and console errors. */
  onPageError?: (worker: number, message: string) => void;
}

export interface WorkerFleet {
  browser: Browser;
  pages: Page[];
  close(): Promise<void>;
}

export function workerUrl(base: string, backend?: string): string {
  const u = new URL(base);
  u.searchParams.set('autostart', '1');
  if (backend) u.searchParams.set('backend', backend);
  return u.toString();
}

export async function launchWorkers(opts: LaunchOptions): Promise<WorkerFleet> {
  const browser = await chromium.launch({
    executablePath: findChromium(),
    headless: opts.headless ?? true,
    args: CHROMIUM_ARGS,
  });
  const pages: Page[] = [];
  try {
    for (let i = 0; i < opts.workers; i++) {
      const page = await browser.newPage();
      page.on('pageerror', (err) => opts.onPageError?.(i, err.message));
      page.on('console', (msg) => {
        if (msg.type() === 'error') opts.onPageError?.(i, msg.text());
      });
      await page.goto(workerUrl(opts.url, opts.backend));
      pages.push(page);
    }
  } catch (err) {
    await browser.close();
    throw err;
  }
  return { browser, pages, close: () => browser.close() };
}
