/**
 * Every connected worker, one row each. Each cell carries its column's name
 * (data-label), so at phone width the rows stack into labelled cards instead of
 * hiding columns past the screen's edge. A split job's worker shows its replica and
 * stage (worker-stage.ts). A worker without a job is idle: it shows
 * 0 examples/s whatever it last reported. Explicit ARIA roles keep it a table for
 * screen readers when CSS stacks it.
 */
import type { WorkerView } from '../../shared/operator-protocol.js';
import { h } from './dom.js';
import { fmtAgo, fmtInt, fmtRate } from './format.js';
import type { DashboardStore } from './store.js';
import { stageText } from './worker-stage.js';

const COLUMNS = ['Worker', 'Job', 'Stage', 'Backend', 'Adapter', 'Examples/s', 'Accepted', 'Refused', 'Shards', 'Last seen'] as const;

export class WorkerTable {
  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly count: HTMLElement,
    private readonly store: DashboardStore,
  ) {}

  render(): void {
    const { workers, serverNow } = this.store;
    this.count.textContent = `${fmtInt(workers.length)} connected${this.store.live ? '' : ' (last known)'}`;
    if (workers.length === 0) {
      this.body.replaceChildren(h('tr', { role: 'row' }, h('td', { role: 'cell', colspan: COLUMNS.length, class: 'muted' }, 'No workers connected.')));
      return;
    }
    this.body.replaceChildren(...workers.map((w) => this.row(w, serverNow)));
  }

  private row(w: WorkerView, now: number): HTMLTableRowElement {
    const jobName = w.jobId ? (this.store.jobs.get(w.jobId)?.info.name ?? w.jobId) : 'idle';
    const cells: [string, Node | string, string?][] = [
      ['Job', jobName],
      ['Stage', stageText(w.stage)],
      ['Backend', w.backend ?? '—'],
      ['Adapter', adapter(w)],
      ['Examples/s', w.jobId ? fmtRate(w.examplesPerSecond) : '0 (idle)', 'num'],
      ['Accepted', fmtInt(w.pushesAccepted), 'num'],
      ['Refused', rejected(w)],
      ['Shards', w.shards.length ? w.shards.map((s) => `${s.epoch}:${s.shardIndex}`).join(', ') : '—'],
      ['Last seen', fmtAgo(w.lastSeen, now), 'num'],
    ];
    return h(
      'tr',
      { 'data-worker-id': w.id, role: 'row' },
      h('th', { scope: 'row', role: 'rowheader', title: w.userAgent, 'data-label': 'Worker' }, w.id),
      ...cells.map(([label, value, cls]) => h('td', { role: 'cell', 'data-label': label, class: cls }, value)),
    );
  }
}

function adapter(w: WorkerView): string {
  const a = w.adapter;
  if (!a) return '—';
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.description || 'unknown';
  return a.isFallbackAdapter ? `${name} (fallback)` : name;
}

function rejected(w: WorkerView): string {
  const parts = Object.entries(w.pushesRejected)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([code, n]) => `${code} ${fmtInt(n ?? 0)}`);
  return parts.length ? parts.join(', ') : '0';
}
