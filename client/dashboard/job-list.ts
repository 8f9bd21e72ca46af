/**
 * The list of jobs: one button per job (keyed by id and updated in place, so focus and
 * the selection survive the once-a-second ticks).
 */
import { countOf } from '../../shared/plural.js';
import { h, setText } from './dom.js';
import { fmtInt, fmtPercent } from './format.js';
import { badge, setBadge } from './job-state.js';
import type { DashboardStore } from './store.js';

interface Row {
  li: HTMLLIElement;
  button: HTMLButtonElement;
  name: HTMLElement;
  state: HTMLElement;
  stats: HTMLElement;
}

export class JobList {
  private readonly rows = new Map<string, Row>();
  private readonly empty: HTMLElement;

  constructor(
    private readonly list: HTMLUListElement,
    private readonly store: DashboardStore,
    private readonly onSelect: (id: string) => void,
  ) {
    this.empty = h('li', { class: 'muted' }, 'No jobs yet. Create one below.');
  }

  render(selected: string | null): void {
    const jobs = [...this.store.jobs.values()].sort((a, b) => b.info.createdAt - a.info.createdAt);
    for (const [id, row] of this.rows) {
      if (!this.store.jobs.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    if (jobs.length === 0) this.list.replaceChildren(this.empty);
    else this.empty.remove();
    let previous: Element | null = null;
    for (const { info } of jobs) {
      const row = this.rows.get(info.id) ?? this.createRow(info.id);
      setText(row.name, info.name);
      setBadge(row.state, info.state, this.store.live);
      const acc = info.lastEval ? fmtPercent(info.lastEval.accuracy) : '—';
      setText(row.stats, `v${fmtInt(info.version)} · epoch ${info.epoch} · ${countOf(info.workers, 'worker', 'workers', fmtInt)} · acc ${acc}`);
      row.button.setAttribute('aria-pressed', String(info.id === selected));
      // Keep the DOM order equal to the sorted order without re-inserting unchanged rows.
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== row.li) {
        if (previous) previous.after(row.li);
        else this.list.prepend(row.li);
      }
      previous = row.li;
    }
  }

  private createRow(id: string): Row {
    const name = h('span', { class: 'job-name' });
    const state = badge('draft');
    const stats = h('span', { class: 'job-stats' });
    const button = h('button', { type: 'button', class: 'job-select', 'data-job-id': id }, name, ' ', state, stats);
    button.addEventListener('click', () => this.onSelect(id));
    const row: Row = { li: h('li', {}, button), button, name, state, stats };
    this.rows.set(id, row);
    return row;
  }
}
