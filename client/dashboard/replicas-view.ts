/**
 * A job split into stages: one row per stage of each model replica (its worker,
 * layers, parameter bytes, busy fraction and path, and the bytes per example over its
 * boundary with the next stage), and who waits for a replica. Hidden for a
 * data-parallel job. Rebuilt only when what it shows changed.
 */
import type { ReplicasView as Replicas } from '../../shared/operator-protocol.js';
import { countOf } from '../../shared/plural.js';
import { h } from './dom.js';
import { fmtBytes, fmtInt, fmtPercent } from './format.js';

const COLUMNS = ['Replica', 'Stage', 'Worker', 'Layers', 'Parameter bytes', 'Busy', 'Path', 'Bytes/example to next'] as const;

export class ReplicasView {
  private shown = '';

  constructor(
    private readonly section: HTMLElement,
    private readonly body: HTMLElement,
  ) {}

  /** `stages`: the job's spec.stages; with 1 nothing is shown. */
  render(stages: number, replicas: Replicas | null): void {
    const key = JSON.stringify([stages, replicas]);
    if (key === this.shown) return;
    this.shown = key;
    this.section.hidden = stages <= 1 || !replicas;
    if (this.section.hidden || !replicas) return this.body.replaceChildren();
    const rows = replicas.replicas.flatMap((r) =>
      r.stages.map((s, i) =>
        h(
          'tr',
          { 'data-replica': r.replicaId, 'data-stage': i },
          h('th', { scope: 'row' }, r.replicaId),
          h('td', { class: 'num' }, `${i + 1} of ${r.stages.length}`),
          h('td', {}, s.workerId),
          h('td', {}, s.layers.join(', ') || '—'),
          h('td', { class: 'num' }, fmtBytes(s.paramBytes)),
          h('td', { class: 'num' }, s.busyFraction === null ? '—' : fmtPercent(s.busyFraction)),
          h('td', {}, s.path ?? '—'),
          h('td', { class: 'num' }, boundary(r.boundaries[i]?.bytesPerExample)),
        ),
      ),
    );
    const waiting = replicas.waiting.length
      ? `${countOf(replicas.waiting.length, 'worker')} waiting for a replica: ${replicas.waiting.join(', ')}.`
      : 'No worker waiting for a replica.';
    this.body.replaceChildren(
      h(
        'div',
        { class: 'table-wrap', role: 'region', 'aria-label': 'Replicas and their stages', tabindex: 0 },
        h(
          'table',
          { id: 'replicas-table' },
          h('thead', {}, h('tr', {}, ...COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, `No replica formed yet: one forms when ${fmtInt(stages)} workers wait.`))])),
        ),
      ),
      h('p', { class: 'muted' }, waiting),
    );
  }
}

/** The last stage has no next boundary; before a report the figure is unknown. */
function boundary(bytes: number | null | undefined): string {
  if (bytes === undefined) return '—';
  return bytes === null ? 'not reported yet' : fmtBytes(bytes);
}
