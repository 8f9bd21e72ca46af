/** The selected job's charts: what each one plots, and keeping them current. */
import type { ChartDef } from './chart.js';
import { ResizableChart } from './chart.js';
import { fmtBytes, fmtInt, fmtPercent, fmtRate } from './format.js';
import { byteRates, evalsByExamples, evalsByTime, stalenessBars, throughput, trainLoss } from './series.js';
import type { JobEntry } from './store.js';

const BLUE = '#2563eb';
const RED = '#dc2626';
const GREEN = '#16a34a';
const AMBER = '#d97706';

const lossValue = (v: number): string => v.toFixed(4);

interface Chart {
  def: ChartDef;
  data(job: JobEntry): ReturnType<typeof trainLoss>;
}

const CHARTS: Chart[] = [
  {
    def: {
      id: 'test-time',
      title: 'Test accuracy and loss over time',
      xTime: true,
      series: [
        { label: 'accuracy', color: BLUE, scale: 'acc', value: fmtPercent },
        { label: 'loss', color: RED, scale: 'loss', value: lossValue },
      ],
    },
    data: (j) => evalsByTime(j.evals),
  },
  {
    def: {
      id: 'test-examples',
      title: 'Test accuracy and loss by examples seen',
      xTime: false,
      xLabel: 'examples seen',
      series: [
        { label: 'accuracy', color: BLUE, scale: 'acc', value: fmtPercent },
        { label: 'loss', color: RED, scale: 'loss', value: lossValue },
      ],
    },
    data: (j) => evalsByExamples(j.evals),
  },
  {
    def: {
      id: 'train-loss',
      title: 'Training loss (moving average of worker reports)',
      xTime: true,
      series: [{ label: 'training loss', color: AMBER, value: lossValue }],
    },
    data: (j) => trainLoss(j.history),
  },
  {
    def: {
      id: 'throughput',
      title: 'Throughput',
      xTime: true,
      series: [
        { label: 'examples/s', color: GREEN, scale: 'eps', value: (v) => fmtInt(v) },
        { label: 'pushes/s', color: BLUE, scale: 'pps', value: fmtRate },
      ],
    },
    data: (j) => throughput(j.history),
  },
  {
    def: {
      id: 'bytes',
      title: 'Network traffic (bytes per second)',
      xTime: true,
      series: [
        { label: 'in/s', color: GREEN, scale: 'bytes', value: (v) => `${fmtBytes(v)}/s`, axisValue: fmtBytes, axisLabel: 'bytes/s' },
        { label: 'out/s', color: RED, scale: 'bytes', value: (v) => `${fmtBytes(v)}/s` },
      ],
    },
    data: (j) => byteRates(j.history),
  },
  {
    def: {
      id: 'staleness',
      title: 'Staleness of accepted pushes',
      xTime: false,
      xLabel: 'staleness (versions)',
      bars: true,
      series: [{ label: 'pushes', color: BLUE, value: (v) => fmtInt(v) }],
    },
    data: (j) => stalenessBars(j.info.staleness),
  },
];

export class ChartsPanel {
  private charts: { chart: ResizableChart; spec: Chart }[] = [];

  constructor(private readonly container: HTMLElement) {}

  /** Builds the charts on first use (uPlot measures its container, so it must be visible). */
  update(job: JobEntry | null): void {
    this.container.hidden = job === null;
    if (!job) return;
    if (this.charts.length === 0) {
      this.charts = CHARTS.map((spec) => ({ chart: new ResizableChart(spec.def, this.container), spec }));
    }
    for (const { chart, spec } of this.charts) chart.setData(spec.data(job));
  }

  destroy(): void {
    for (const { chart } of this.charts) chart.destroy();
    this.charts = [];
  }
}
