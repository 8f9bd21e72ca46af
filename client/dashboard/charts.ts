/** The selected job's charts: what each one plots, and keeping them current. */
import type { ChartDef } from './chart.js';
import { ResizableChart } from './chart.js';
import { fmtBytes, fmtInt, fmtPercent, fmtPercentTick, fmtRate } from './format.js';
import type uPlot from 'uplot';
import { byteRates, evalsByExamples, evalsByTime, stalenessBars, throughput, trainLoss } from './series.js';
import { smooth } from './smoothing.js';
import type { JobEntry } from './store.js';

const BLUE = '#2563eb';
const RED = '#dc2626';
const GREEN = '#16a34a';
const AMBER = '#d97706';

const lossValue = (v: number): string => v.toFixed(4);

interface Chart {
  def: ChartDef;
  data(job: JobEntry): ReturnType<typeof trainLoss>;
  /** Its series are noisy measurements that smoothing applies to (not rates of bytes or staleness counts). */
  smooth?: boolean;
  /** Its loss scales, drawn log₁₀ when the operator asks. */
  logScales?: readonly string[];
}

/** What the operator set above the charts (chart-controls.ts). */
export interface ChartSettings {
  /** EMA weight in [0, 1): 0 shows the raw values. */
  smoothing: number;
  /** Loss axes on a log scale. */
  log: boolean;
}

const CHARTS: Chart[] = [
  {
    def: {
      id: 'test-time',
      title: 'Test accuracy and loss over time',
      xTime: true,
      series: [
        { label: 'accuracy', color: BLUE, scale: 'acc', value: fmtPercent, axisValue: fmtPercentTick },
        { label: 'loss', color: RED, scale: 'loss', value: lossValue },
      ],
    },
    data: (j) => evalsByTime(j.evals),
    smooth: true,
    logScales: ['loss'],
  },
  {
    def: {
      id: 'test-examples',
      title: 'Test accuracy and loss by examples seen',
      xTime: false,
      xLabel: 'examples seen',
      series: [
        { label: 'accuracy', color: BLUE, scale: 'acc', value: fmtPercent, axisValue: fmtPercentTick },
        { label: 'loss', color: RED, scale: 'loss', value: lossValue },
      ],
    },
    data: (j) => evalsByExamples(j.evals),
    smooth: true,
    logScales: ['loss'],
  },
  {
    def: {
      id: 'train-loss',
      title: 'Training loss (moving average of worker reports)',
      xTime: true,
      series: [{ label: 'training loss', color: AMBER, value: lossValue }],
    },
    data: (j) => trainLoss(j.history),
    smooth: true,
    logScales: ['y'],
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
  /** The settings the charts were built with: the log axes and the "(smoothed)" titles need a rebuild. */
  private builtFor = '';

  constructor(
    private readonly container: HTMLElement,
    private readonly settings: ChartSettings,
  ) {}

  /** Builds the charts on first use (uPlot measures its container, so it must be visible), and again when the log setting changes. */
  update(job: JobEntry | null): void {
    this.container.hidden = job === null;
    if (!job) return;
    const key = `${this.settings.log}:${this.settings.smoothing > 0}`;
    if (this.charts.length > 0 && this.builtFor !== key) this.destroy();
    if (this.charts.length === 0) {
      this.builtFor = key;
      this.charts = CHARTS.map((spec) => ({ chart: new ResizableChart(this.defOf(spec), this.container), spec }));
    }
    for (const { chart, spec } of this.charts) {
      const data = spec.data(job);
      chart.setData(spec.smooth && this.settings.smoothing > 0 ? smoothed(data, this.settings.smoothing) : data);
    }
  }

  private defOf(spec: Chart): ChartDef {
    const smoothing = spec.smooth ? this.settings.smoothing : 0;
    return {
      ...spec.def,
      ...(this.settings.log && spec.logScales ? { log: spec.logScales } : {}),
      title: smoothing > 0 ? `${spec.def.title} (smoothed)` : spec.def.title,
    };
  }

  destroy(): void {
    for (const { chart } of this.charts) chart.destroy();
    this.charts = [];
  }
}

/** Every y series smoothed (x unchanged). */
export function smoothed(data: uPlot.AlignedData, weight: number): uPlot.AlignedData {
  return [data[0], ...data.slice(1).map((ys) => smooth(ys as (number | null)[], weight))] as uPlot.AlignedData;
}
