/** Every connected worker, one row each. The table scrolls inside its wrapper at phone width. */
import type { WorkerView } from '../../shared/operator-protocol.js';
import { h } from './dom.js';
import { fmtAgo, fmtInt, fmtRate } from './format.js';
import type { DashboardStore } from './store.js';

export class WorkerTable {
  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly count: HTMLElement,
    private readonly store: DashboardStore,
  ) {}

  render(): void {
    const { workers, serverNow } = this.store;
    this.count.textContent = `${workers.length} connected`;
    if (workers.length === 0) {
      this.body.replaceChildren(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No workers connected.')));
      return;
    }
    this.body.replaceChildren(...workers.map((w) => this.row(w, serverNow)));
  }

  private row(w: WorkerView, now: number): HTMLTableRowElement {
    const jobName = w.jobId ? (this.store.jobs.get(w.jobId)?.info.name ?? w.jobId) : 'idle';
    return h(
      'tr',
      { 'data-worker-id': w.id },
      h('th', { scope: 'row', title: w.userAgent }, w.id),
      h('td', {}, jobName),
      h('td', {}, w.backend ?? '—'),
      h('td', {}, adapter(w)),
      h('td', { class: 'num' }, fmtRate(w.examplesPerSecond)),
      h('td', { class: 'num' }, fmtInt(w.pushesAccepted)),
      h('td', {}, rejected(w)),
      h('td', {}, w.shards.length ? w.shards.map((s) => `${s.epoch}:${s.shardIndex}`).join(', ') : '—'),
      h('td', { class: 'num' }, fmtAgo(w.lastSeen, now)),
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
