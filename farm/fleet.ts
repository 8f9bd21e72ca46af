/**
 * A fleet of headless Chromium worker pages against one coordinator: N pages spread
 * round-robin over K browser processes, each page's EngineStatus polled, and a page
 * that crashes or closes restarted with exponential backoff. Used by the farm CLI,
 * `npm start -- --workers N` and the benchmarks.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { EngineStatus } from '../client/engine/status.js';
import { CHROMIUM_ARGS, findChromium } from './chromium.js';

export interface RestartPolicy {
  /** Delay before the first restart of a page. Default 1000 ms. */
  initialDelayMs: number;
  /** Longest delay between restarts. Default 30 000 ms. */
  maxDelayMs: number;
  /** A page that lived this long counts as healthy: its next restart waits initialDelayMs again. Default 60 000 ms. */
  healthyAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, healthyAfterMs: 60_000 };

export interface FleetOptions {
  /** Coordinator page URL, e.g. http://localhost:3000/ */
  url: string;
  workers: number;
  /** Browser processes the pages are spread over. Default 1. */
  browsers?: number;
  /** Force a backend on every page (`?backend=`); default: each page measures and picks. */
  backend?: string;
  /** Default true. */
  headless?: boolean;
  restart?: Partial<RestartPolicy>;
  /** Each page's uncaught errors and console errors. */
  onPageError?: (worker: number, message: string) => void;
  /** Crashes, closes and restarts, for the operator's log. */
  onEvent?: (worker: number, message: string) => void;
}

/** One worker slot: its current page's figures plus those of the pages before it. */
export interface WorkerSnapshot {
  index: number;
  browser: number;
  /** The page's engine state, or the slot's own: starting, restarting. */
  state: string;
  backend: string | null;
  examplesPerSecond: number;
  /** Totals over every page this slot has run (as of each page's last poll). */
  examplesContributed: number;
  pushesAccepted: number;
  pushesRejected: number;
  restarts: number;
  /** The current page's own accepted pushes (0 right after a restart). */
  currentPagePushesAccepted: number;
}

interface Counters {
  examplesContributed: number;
  pushesAccepted: number;
  pushesRejected: number;
}

const ZERO: Counters = { examplesContributed: 0, pushesAccepted: 0, pushesRejected: 0 };

export function workerUrl(base: string, backend?: string): string {
  const u = new URL(base);
  u.searchParams.set('autostart', '1');
  if (backend) u.searchParams.set('backend', backend);
  return u.toString();
}

class WorkerSlot {
  page: Page | null = null;
  state = 'starting';
  status: EngineStatus | null = null;
  carried: Counters = { ...ZERO };
  restarts = 0;
  failuresInARow = 0;
  startedAt = 0;
  timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly index: number,
    readonly browser: number,
  ) {}

  current(): Counters {
    const s = this.status;
    if (!s) return { ...ZERO };
    return {
      examplesContributed: s.examplesContributed,
      pushesAccepted: s.pushesAccepted,
      pushesRejected: Object.values(s.pushesRejected).reduce((a, b) => a + b, 0),
    };
  }

  /** The page is gone: keep what it contributed, forget its live figures. */
  retire(): void {
    const c = this.current();
    this.carried = {
      examplesContributed: this.carried.examplesContributed + c.examplesContributed,
      pushesAccepted: this.carried.pushesAccepted + c.pushesAccepted,
      pushesRejected: this.carried.pushesRejected + c.pushesRejected,
    };
    this.status = null;
    this.page = null;
  }

  snapshot(): WorkerSnapshot {
    const c = this.current();
    return {
      index: this.index,
      browser: this.browser,
      state: this.page && this.status ? this.status.state : this.state,
      backend: this.status?.backend ?? null,
      examplesPerSecond: this.status?.examplesPerSecond ?? 0,
      examplesContributed: this.carried.examplesContributed + c.examplesContributed,
      pushesAccepted: this.carried.pushesAccepted + c.pushesAccepted,
      pushesRejected: this.carried.pushesRejected + c.pushesRejected,
      restarts: this.restarts,
      currentPagePushesAccepted: c.pushesAccepted,
    };
  }
}

export class Fleet {
  private readonly browsers: (Promise<Browser> | null)[];
  private readonly slots: WorkerSlot[];
  private readonly policy: RestartPolicy;
  private readonly executablePath: string;
  private closing = false;

  private constructor(private readonly opts: FleetOptions) {
    const k = Math.max(1, Math.min(opts.browsers ?? 1, opts.workers));
    this.browsers = Array.from({ length: k }, () => null);
    this.slots = Array.from({ length: opts.workers }, (_, i) => new WorkerSlot(i, i % k));
    this.policy = { ...DEFAULT_RESTART_POLICY, ...opts.restart };
    this.executablePath = findChromium(); // fails early, with the install command
  }

  /** Starts every browser and page; fails (closing what it started) if the first start fails. */
  static async launch(opts: FleetOptions): Promise<Fleet> {
    const fleet = new Fleet(opts);
    try {
      for (const slot of fleet.slots) await fleet.open(slot);
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  /** The live pages (a slot being restarted has none). */
  get pages(): Page[] {
    return this.slots.flatMap((s) => (s.page ? [s.page] : []));
  }

  snapshot(): WorkerSnapshot[] {
    return this.slots.map((s) => s.snapshot());
  }

  /** Reads every live page's EngineStatus (window.downpour.status). */
  async poll(): Promise<WorkerSnapshot[]> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const page = slot.page;
        if (!page) return;
        try {
          const status = await page.evaluate(() => (window as unknown as { downpour?: { status: EngineStatus } }).downpour?.status ?? null);
          if (slot.page === page && status) slot.status = status;
        } catch {
          // The page is navigating, crashed or closing: its close/crash handler takes over.
        }
      }),
    );
    return this.snapshot();
  }

  /**
   * A stop has begun: a page that closes from now on is not a crash to restart (under
   * systemd's control-group stop the browsers get the stop signal too). The pages
   * that are still up can be polled one last time.
   */
  stopRestarting(): void {
    this.closing = true;
    for (const slot of this.slots) if (slot.timer) clearTimeout(slot.timer);
  }

  /** Closes every browser this fleet started and stops restarting pages. */
  async close(): Promise<void> {
    this.stopRestarting();
    await Promise.all(
      this.browsers.map(async (b) => {
        const browser = await b?.catch(() => null);
        await browser?.close().catch(() => {});
      }),
    );
  }

  private browser(i: number): Promise<Browser> {
    const existing = this.browsers[i];
    if (existing) return existing;
    const launched = chromium.launch({
      executablePath: this.executablePath,
      headless: this.opts.headless ?? true,
      args: CHROMIUM_ARGS,
      // Shutdown is ours (Fleet.close): Playwright's own handlers would close the
      // browsers under us before the final poll, and look like crashes to restart.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    this.browsers[i] = launched;
    launched.then(
      (b) =>
        b.on('disconnected', () => {
          // The process died (or was closed): the next page open starts a new one.
          if (this.browsers[i] === launched) this.browsers[i] = null;
        }),
      () => {
        if (this.browsers[i] === launched) this.browsers[i] = null;
      },
    );
    return launched;
  }

  private async open(slot: WorkerSlot): Promise<void> {
    slot.state = 'starting';
    const browser = await this.browser(slot.browser);
    const page = await browser.newPage();
    if (this.closing) return;
    slot.page = page;
    slot.startedAt = Date.now();
    page.on('pageerror', (err) => this.opts.onPageError?.(slot.index, err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.opts.onPageError?.(slot.index, msg.text());
    });
    page.on('crash', () => {
      this.opts.onEvent?.(slot.index, 'page crashed');
      void page.close().catch(() => {}); // its 'close' schedules the restart
    });
    page.on('close', () => this.lost(slot, page));
    await page.goto(workerUrl(this.opts.url, this.opts.backend));
  }

  private lost(slot: WorkerSlot, page: Page): void {
    if (slot.page !== page || this.closing) return;
    slot.retire();
    const lived = Date.now() - slot.startedAt;
    slot.failuresInARow = lived >= this.policy.healthyAfterMs ? 1 : slot.failuresInARow + 1;
    this.opts.onEvent?.(slot.index, `page closed after ${Math.round(lived / 1000)} s`);
    this.scheduleRestart(slot);
  }

  /** Waits initialDelayMs · 2^(failures in a row − 1), capped, then opens a new page. */
  private scheduleRestart(slot: WorkerSlot): void {
    const delay = Math.min(this.policy.initialDelayMs * 2 ** Math.max(0, slot.failuresInARow - 1), this.policy.maxDelayMs);
    slot.state = 'restarting';
    this.opts.onEvent?.(slot.index, `restarting in ${delay} ms`);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (this.closing) return;
      slot.restarts++;
      this.open(slot).catch((err: unknown) => {
        this.opts.onEvent?.(slot.index, `restart failed: ${err instanceof Error ? err.message : String(err)}`);
        if (slot.page) {
          void slot.page.close().catch(() => {}); // its 'close' handler schedules the next try
        } else if (!this.closing) {
          slot.failuresInARow++; // no page was opened (e.g. the browser would not start)
          this.scheduleRestart(slot);
        }
      });
    }, delay);
  }
}

/** Starts a fleet; the name `npm start -- --workers N` and the benchmarks have always used. */
export function launchWorkers(opts: FleetOptions): Promise<Fleet> {
  return Fleet.launch(opts);
}
