/**
 * Several jobs on one chart, as W&B and TensorBoard compare runs: the operator ticks
 * jobs and picks a metric (test accuracy, test loss, training loss) against examples
 * seen or minutes since each job's start, so runs started at different times line up.
 * Each job's series is smoothed on its own points, then the series are joined on x.
 */
import uPlot from 'uplot';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { ResizableChart, type ChartDef } from './chart.js';
import type { ChartSettings } from './charts.js';
import { byId, h, setText } from './dom.js';
import { fmtInt, fmtPercent, fmtPercentTick } from './format.js';
import { smooth } from './smoothing.js';
import type { DashboardStore, JobEntry } from './store.js';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

type Metric = 'accuracy' | 'loss' | 'trainLoss';
type XAxis = 'examples' | 'minutes';

const METRICS: Record<Metric, { label: string; format: (v: number) => string; tick?: (v: number) => string; lossLike: boolean }> = {
  accuracy: { label: 'test accuracy', format: fmtPercent, tick: fmtPercentTick, lossLike: false },
  loss: { label: 'test loss', format: (v) => v.toFixed(4), lossLike: true },
  trainLoss: { label: 'training loss', format: (v) => v.toFixed(4), lossLike: true },
};

interface Row {
  label: HTMLLabelElement;
  box: HTMLInputElement;
  text: Text;
}

export class ComparePanel {
  private readonly jobsBox = byId<HTMLFieldSetElement>('compare-jobs');
  private readonly metric = byId<HTMLSelectElement>('compare-metric');
  private readonly xAxis = byId<HTMLSelectElement>('compare-x');
  private readonly holder = byId('compare-chart');
  private readonly note = byId('compare-note');
  private readonly rows = new Map<string, Row>();
  private readonly chosen = new Set<string>();
  private chart: ResizableChart | null = null;
  private builtFor = '';
  /** Until the operator ticks a box, the chart follows the job selected in the detail view. */
  private touched = false;

  constructor(
    private readonly store: DashboardStore,
    private readonly settings: ChartSettings,
  ) {
    this.metric.addEventListener('change', () => this.render(null));
    this.xAxis.addEventListener('change', () => this.render(null));
  }

  /** `selected`: the job in the detail view (null: leave the choice as it is). */
  render(selected: string | null): void {
    if (!this.touched && selected && !(this.chosen.size === 1 && this.chosen.has(selected))) {
      this.chosen.clear();
      this.chosen.add(selected);
    }
    this.renderChoices();
    const jobs = [...this.chosen].map((id) => this.store.jobs.get(id)).filter((j): j is JobEntry => j !== undefined);
    const metric = this.metric.value as Metric;
    const x = this.xAxis.value as XAxis;
    const key = JSON.stringify([jobs.map((j) => j.info.id), metric, x, this.settings.log, this.settings.smoothing > 0]);
    if (key !== this.builtFor) {
      this.chart?.destroy();
      this.chart = jobs.length ? new ResizableChart(this.def(jobs, metric, x), this.holder) : null;
      this.builtFor = key;
    }
    setText(this.note, jobs.length ? '' : 'Tick one or more jobs to plot them together.');
    this.chart?.setData(this.data(jobs, metric, x));
  }

  private renderChoices(): void {
    const jobs = [...this.store.jobs.values()].sort((a, b) => b.info.createdAt - a.info.createdAt);
    for (const [id, row] of this.rows) {
      if (!this.store.jobs.has(id)) {
        row.label.remove();
        this.rows.delete(id);
        this.chosen.delete(id);
      }
    }
    let previous: Element = this.jobsBox.querySelector('legend')!;
    for (const { info } of jobs) {
      let row = this.rows.get(info.id);
      if (!row) {
        const box = h('input', { type: 'checkbox', value: info.id, 'data-job-id': info.id });
        box.addEventListener('change', () => {
          this.touched = true;
          if (box.checked) this.chosen.add(info.id);
          else this.chosen.delete(info.id);
          this.render(null);
        });
        const text = document.createTextNode('');
        row = { label: h('label', { class: 'compare-job' }, box, text), box, text };
        this.rows.set(info.id, row);
      }
      const name = `${info.name} (${info.id}, ${info.state})`;
      if (row.text.data !== name) row.text.data = name;
      row.box.checked = this.chosen.has(info.id);
      if (previous.nextElementSibling !== row.label) previous.after(row.label);
      previous = row.label;
    }
  }

  private def(jobs: JobEntry[], metric: Metric, x: XAxis): ChartDef {
    const m = METRICS[metric];
    const smoothed = this.settings.smoothing > 0;
    return {
      id: 'compare',
      title: `${m.label[0]!.toUpperCase()}${m.label.slice(1)} by ${x === 'examples' ? 'examples seen' : 'minutes since start'}${smoothed ? ' (smoothed)' : ''}`,
      xTime: false,
      xLabel: x === 'examples' ? 'examples seen' : 'minutes since start',
      xValue: x === 'examples' ? (v) => fmtInt(v) : (v) => `${+v.toFixed(1)}`,
      spanGaps: true,
      ...(this.settings.log && m.lossLike ? { log: ['y'] } : {}),
      series: jobs.map((j, i) => ({ label: `${j.info.name} (${j.info.id})`, color: PALETTE[i % PALETTE.length]!, value: m.format, axisLabel: m.label, ...(m.tick ? { axisValue: m.tick } : {}) })),
    };
  }

  private data(jobs: JobEntry[], metric: Metric, x: XAxis): uPlot.AlignedData {
    if (jobs.length === 0) return [[]];
    const tables = jobs.map((j) => this.table(j, metric, x));
    return tables.length === 1 ? tables[0]! : uPlot.join(tables);
  }

  /** One job's points, ascending in x (uPlot needs that) and smoothed on their own. */
  private table(job: JobEntry, metric: Metric, x: XAxis): uPlot.AlignedData {
    const start = startOf(job);
    const xOf = (p: { at: number; examplesSeen: number }) => (x === 'examples' ? p.examplesSeen : (p.at - start) / 60_000);
    const points: { x: number; y: number | null }[] =
      metric === 'trainLoss' ? job.history.map((p: MetricPoint) => ({ x: xOf(p), y: p.trainLoss })) : job.evals.map((e: EvalRecord) => ({ x: xOf(e), y: e[metric] }));
    points.sort((a, b) => a.x - b.x);
    // Equal x values (a resumed job repeats examplesSeen) would be one point after the join: keep the last.
    const unique = points.filter((p, i) => i === points.length - 1 || points[i + 1]!.x !== p.x);
    return [unique.map((p) => p.x), smooth(unique.map((p) => p.y), this.settings.smoothing)];
  }
}

/** When the job began training: its first sample or evaluation, whichever came first. */
function startOf(job: JobEntry): number {
  const times = [job.history[0]?.at, job.evals[0]?.at].filter((t): t is number => t !== undefined);
  return times.length ? Math.min(...times) : job.info.createdAt;
}
