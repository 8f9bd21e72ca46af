/**
 * A job whose parameters live on ps tasks: one row per task (its endpoint, how many
 * tensors or partitions it holds, their bytes and share of the model) and one per
 * tensor or row partition (its rows, shape, bytes and task). Hidden for a job whose
 * parameters are in the coordinator. Rebuilt only when what it shows changed.
 */
import type { PlacementView as Placement } from '../../shared/operator-protocol.js';
import { h } from './dom.js';
import { fmtBytes, fmtInt, fmtPercent } from './format.js';

const TASK_COLUMNS = ['Task', 'Endpoint', 'Slices', 'Bytes', 'Share'] as const;
const SLICE_COLUMNS = ['Slice', 'Tensor', 'Rows', 'Shape', 'Bytes', 'Task'] as const;

export class PlacementView {
  private shown = '';

  constructor(
    private readonly section: HTMLElement,
    private readonly body: HTMLElement,
  ) {}

  render(placement: Placement | null): void {
    const key = JSON.stringify(placement);
    if (key === this.shown) return;
    this.shown = key;
    this.section.hidden = !placement;
    if (!placement) return this.body.replaceChildren();
    const total = placement.tasks.reduce((n, t) => n + t.bytes, 0);
    const taskRows = placement.tasks.map((t) =>
      h(
        'tr',
        { 'data-task': t.task },
        h('th', { scope: 'row' }, `ps${t.task}`),
        h('td', {}, t.endpoint),
        h('td', { class: 'num' }, fmtInt(t.slices)),
        h('td', { class: 'num' }, fmtBytes(t.bytes)),
        h('td', { class: 'num' }, total ? fmtPercent(t.bytes / total) : '—'),
      ),
    );
    const sliceRows = placement.slices.map((s) =>
      h(
        'tr',
        { 'data-slice': s.name },
        h('th', { scope: 'row' }, s.name),
        h('td', {}, s.partitions > 1 ? `${s.tensor} (${s.partition + 1} of ${s.partitions})` : s.tensor),
        // Rows as the operator counts them: first and last, both included.
        h('td', { class: 'num' }, `${fmtInt(s.rowStart)}–${fmtInt(s.rowEnd - 1)}`),
        h('td', { class: 'num' }, s.shape.join('×') || 'scalar'),
        h('td', { class: 'num' }, fmtBytes(s.bytes)),
        h('td', {}, `ps${s.task}`),
      ),
    );
    const table = (id: string, label: string, columns: readonly string[], rows: HTMLElement[]) =>
      h(
        'div',
        { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: 0 },
        h('table', { id }, h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, ...rows)),
      );
    this.body.replaceChildren(
      table('placement-tasks', 'Bytes per ps task', TASK_COLUMNS, taskRows),
      table('placement-slices', 'Tensors and partitions by ps task', SLICE_COLUMNS, sliceRows),
      h('p', { class: 'muted' }, `Tensors above ${fmtBytes(placement.partitionBytes)} are split by rows over the tasks; each tensor or partition goes to the task holding the fewest bytes so far.`),
    );
  }
}
