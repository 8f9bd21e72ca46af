/** The farm's live terminal table: one row per worker slot plus totals, plain text. */
import type { WorkerSnapshot } from './fleet.js';
import { countOf } from '../shared/plural.js';

export interface Totals {
  examplesPerSecond: number;
  examplesContributed: number;
  pushesAccepted: number;
  pushesRejected: number;
  restarts: number;
}

export function totalsOf(rows: readonly WorkerSnapshot[]): Totals {
  const t: Totals = { examplesPerSecond: 0, examplesContributed: 0, pushesAccepted: 0, pushesRejected: 0, restarts: 0 };
  for (const r of rows) {
    t.examplesPerSecond += r.examplesPerSecond;
    t.examplesContributed += r.examplesContributed;
    t.pushesAccepted += r.pushesAccepted;
    t.pushesRejected += r.pushesRejected;
    t.restarts += r.restarts;
  }
  return t;
}

const COLUMNS = ['worker', 'browser', 'backend', 'examples/s', 'examples', 'accepted', 'rejected', 'restarts', 'state'] as const;
const NUMERIC = new Set<string>(['examples/s', 'examples', 'accepted', 'rejected', 'restarts']);

export function renderTable(rows: readonly WorkerSnapshot[], elapsedSeconds: number, url: string): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const body: string[][] = rows.map((r) => [
    String(r.index),
    String(r.browser),
    r.backend ?? '—',
    n(r.examplesPerSecond),
    n(r.examplesContributed),
    n(r.pushesAccepted),
    n(r.pushesRejected),
    String(r.restarts),
    r.state,
  ]);
  const t = totalsOf(rows);
  const total = ['total', '', '', n(t.examplesPerSecond), n(t.examplesContributed), n(t.pushesAccepted), n(t.pushesRejected), String(t.restarts), ''];
  const all = [[...COLUMNS], ...body, total];
  const widths = COLUMNS.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (NUMERIC.has(COLUMNS[c]!) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [
    `Downpour farm → ${url}   ${countOf(rows.length, 'worker')}   ${Math.round(elapsedSeconds)} s   (Ctrl-C stops and closes every browser)`,
    '',
    line(all[0]!),
    rule,
    ...body.map(line),
    rule,
    line(total),
  ].join('\n');
}
