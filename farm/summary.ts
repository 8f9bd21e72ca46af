/** The JSON file the farm writes at exit (`--summary FILE`). */
import { writeFileSync } from 'node:fs';
import type { WorkerSnapshot } from './fleet.js';
import { totalsOf, type Totals } from './table.js';

export interface FarmSummary {
  url: string;
  /** ISO 8601. */
  startedAt: string;
  endedAt: string;
  durationSeconds: number;
  workers: {
    index: number;
    browser: number;
    backend: string | null;
    examplesContributed: number;
    pushesAccepted: number;
    pushesRejected: number;
    restarts: number;
    /** The engine state at the last poll before exit. */
    lastState: string;
  }[];
  totals: Omit<Totals, 'examplesPerSecond'>;
}

export function buildSummary(url: string, startedAt: number, endedAt: number, rows: readonly WorkerSnapshot[]): FarmSummary {
  const { examplesPerSecond: _live, ...totals } = totalsOf(rows);
  return {
    url,
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(endedAt).toISOString(),
    durationSeconds: Math.round((endedAt - startedAt) / 100) / 10,
    workers: rows.map((r) => ({
      index: r.index,
      browser: r.browser,
      backend: r.backend,
      examplesContributed: r.examplesContributed,
      pushesAccepted: r.pushesAccepted,
      pushesRejected: r.pushesRejected,
      restarts: r.restarts,
      lastState: r.state,
    })),
    totals,
  };
}

export function writeSummary(file: string, summary: FarmSummary): void {
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
}
