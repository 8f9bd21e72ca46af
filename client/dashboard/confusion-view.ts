/**
 * The latest evaluation by class: per-class accuracy (recall: the share of a class's
 * test examples predicted as that class), what each class is most often mistaken for,
 * and, up to MATRIX_MAX_CLASSES classes, the confusion matrix itself with each cell
 * shaded by its share of the row. Both tables scroll inside their own frame.
 */
import type { JobDetail } from '../../shared/operator-protocol.js';
import { h, setText } from './dom.js';
import { fmtInt, fmtPercent } from './format.js';

export const MATRIX_MAX_CLASSES = 20;

export class ConfusionView {
  private shownFor = '';

  constructor(
    private readonly heading: HTMLElement,
    private readonly body: HTMLElement,
  ) {}

  render(jobId: string, classNames: readonly string[], confusion: JobDetail['confusion']): void {
    const key = `${jobId}:${confusion?.version ?? 'none'}:${classNames.length}`;
    if (key === this.shownFor) return;
    this.shownFor = key;
    if (!confusion) {
      setText(this.heading, 'By class');
      this.body.replaceChildren(h('p', { class: 'muted' }, 'No evaluation yet.'));
      return;
    }
    setText(this.heading, `By class (evaluation of version ${fmtInt(confusion.version)})`);
    const name = (c: number) => classNames[c] ?? String(c);
    const m = confusion.matrix;
    const totals = m.map((row) => row.reduce((a, b) => a + b, 0));
    const perClass = h(
      'table',
      { class: 'per-class', id: 'per-class' },
      h('thead', {}, h('tr', {}, ...['Class', 'Accuracy', 'Test examples', 'Most often mistaken for'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        ...m.map((row, c) => {
          const wrong = row.map((n, p) => ({ n, p })).filter((x) => x.p !== c && x.n > 0).sort((a, b) => b.n - a.n)[0];
          return h(
            'tr',
            { 'data-class': name(c) },
            h('th', { scope: 'row' }, name(c)),
            h('td', { class: 'num' }, totals[c] ? fmtPercent(row[c]! / totals[c]!) : '—'),
            h('td', { class: 'num' }, fmtInt(totals[c]!)),
            h('td', {}, wrong ? `${name(wrong.p)} (${fmtInt(wrong.n)})` : '—'),
          );
        }),
      ),
    );
    const parts: Node[] = [h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Accuracy by class', tabindex: 0 }, perClass)];
    if (m.length <= MATRIX_MAX_CLASSES) parts.push(this.matrix(m, totals, name));
    else parts.push(h('p', { class: 'muted' }, `The matrix of ${m.length} classes is in the metrics export (JSON).`));
    this.body.replaceChildren(...parts);
  }

  private matrix(m: number[][], totals: number[], name: (c: number) => string): HTMLElement {
    const table = h(
      'table',
      { class: 'confusion', id: 'confusion-matrix' },
      h('caption', {}, 'Rows: true class. Columns: predicted class. Shading: share of the row.'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'true \\ predicted'), ...m.map((_, p) => h('th', { scope: 'col' }, name(p))))),
      h(
        'tbody',
        {},
        ...m.map((row, t) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, name(t)),
            ...row.map((n, p) => {
              const share = totals[t] ? n / totals[t]! : 0;
              const hue = p === t ? '#16a34a' : '#dc2626';
              return h('td', { class: 'num', style: `background: color-mix(in srgb, ${hue} ${Math.round(share * 70)}%, transparent)`, title: `${name(t)} predicted as ${name(p)}: ${fmtInt(n)}` }, fmtInt(n));
            }),
          ),
        ),
      ),
    );
    return h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Confusion matrix', tabindex: 0 }, table);
  }
}
