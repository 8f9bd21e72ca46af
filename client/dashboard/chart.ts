/**
 * One uPlot chart that follows its container's width (ResizeObserver), so the grid
 * can reflow from two columns to one at phone width without the charts overflowing.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';

export interface SeriesDef {
  label: string;
  color: string;
  /** Scale key; a second key gets its own axis on the right. */
  scale?: string;
  value?: (v: number) => string;
  /** Tick labels for this series' scale (the first series on a scale decides). */
  axisValue?: (v: number) => string;
  /** Axis title for this series' scale; default: the labels of the series on it. */
  axisLabel?: string;
}

export interface ChartDef {
  id: string;
  title: string;
  /** Time x axis (seconds) or a plain number (examples seen, staleness). */
  xTime: boolean;
  xLabel?: string;
  /** Tick labels for a plain x axis. */
  xValue?: (v: number) => string;
  series: SeriesDef[];
  bars?: boolean;
  /** Scale keys drawn on a log₁₀ axis (values must be positive). */
  log?: readonly string[];
  /** Draw lines across missing points (series with different x, joined). */
  spanGaps?: boolean;
}

const HEIGHT = 220;

export class ResizableChart {
  readonly figure: HTMLElement;
  private readonly plot: uPlot;
  private readonly observer: ResizeObserver;
  private readonly empty: HTMLElement;
  private readonly holder: HTMLElement;

  constructor(def: ChartDef, parent: HTMLElement) {
    const holder = h('div', { class: 'chart-canvas' });
    this.holder = holder;
    this.empty = h('p', { class: 'chart-empty' }, 'No data yet');
    this.figure = h(
      'figure',
      { class: 'chart', id: `chart-${def.id}`, 'data-points': 0, 'aria-label': def.title },
      h('figcaption', {}, def.title),
      this.empty,
      holder,
    );
    parent.append(this.figure);
    const opts = options(def, Math.max(200, holder.clientWidth));
    // The x scale's span, for tests and scripts that cannot read the canvas.
    opts.hooks = { setScale: [(u, key) => key === 'x' && this.figure.setAttribute('data-x-span', String((u.scales.x!.max ?? 0) - (u.scales.x!.min ?? 0)))] };
    this.plot = new uPlot(opts, emptyData(def), holder);
    const logScales = Object.entries(this.plot.scales).filter(([, sc]) => sc.distr === 3).map(([k]) => k);
    this.figure.setAttribute('data-log-scales', logScales.join(' '));
    this.observer = new ResizeObserver(() => {
      const width = holder.clientWidth;
      if (width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    });
    this.observer.observe(holder);
  }

  setData(data: uPlot.AlignedData): void {
    const n = data[0].length;
    this.figure.setAttribute('data-points', String(n));
    // The last plotted value of each series, for tests and scripts that cannot read the canvas.
    this.figure.setAttribute('data-last', JSON.stringify(data.slice(1).map((ys) => lastValue(ys))));
    this.empty.hidden = n > 0;
    // An empty uPlot keeps the previous job's axes; hide it rather than show stale ticks.
    this.holder.hidden = n === 0;
    this.plot.setData(data);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot.destroy();
    this.figure.remove();
  }
}

/**
 * A single point (or points at one instant) gets a minute either side. uPlot's own
 * pick for one point on a time axis is min + 86,400 / 1e-3 s: about 2.7 years.
 */
export function timeRange(u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  const xs = u.data[0];
  const first = xs[0];
  const last = xs[xs.length - 1];
  if (first !== undefined && last !== undefined && last - first < 1) return [first - 60, last + 60];
  return [min, max];
}

function lastValue(ys: uPlot.AlignedData[number]): number | null {
  for (let i = ys.length - 1; i >= 0; i--) {
    const v = ys[i];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

function emptyData(def: ChartDef): uPlot.AlignedData {
  return [[], ...def.series.map(() => [])];
}

function axisLabel(onScale: SeriesDef[]): string {
  return onScale.find((s) => s.axisLabel)?.axisLabel ?? onScale.map((s) => s.label).join(' / ');
}

function axisValues(format: ((v: number) => string) | undefined): Partial<uPlot.Axis> {
  return format ? { values: (_u: uPlot, splits: number[]) => splits.map(format) } : {};
}

function options(def: ChartDef, width: number): uPlot.Options {
  // Axis text follows the page's colour scheme; uPlot's default is black on any background.
  const ink = getComputedStyle(document.body).color || 'currentColor';
  const grid = { stroke: 'rgba(128,128,128,0.2)', width: 1 };
  const scales = [...new Set(def.series.map((s) => s.scale ?? 'y'))];
  const axes: uPlot.Axis[] = [
    { stroke: ink, grid, ticks: grid, ...(def.xLabel ? { label: def.xLabel } : {}), ...axisValues(def.xValue) },
    ...scales.map(
      (scale, i): uPlot.Axis => ({
        scale,
        stroke: ink,
        grid: i === 0 ? grid : { show: false },
        ticks: grid,
        side: i === 0 ? 3 : 1,
        size: 64,
        ...axisValues(def.series.find((s) => (s.scale ?? 'y') === scale)?.axisValue),
        label: axisLabel(def.series.filter((s) => (s.scale ?? 'y') === scale)),
      }),
    ),
  ];
  const barPaths = def.bars ? uPlot.paths.bars?.({ size: [0.6, 40] }) : undefined;
  return {
    width,
    height: HEIGHT,
    scales: {
      x: { time: def.xTime, ...(def.bars ? { distr: 2 } : def.xTime ? { range: timeRange } : {}) },
      ...Object.fromEntries(scales.map((s): [string, uPlot.Scale] => [s, def.log?.includes(s) ? { auto: true, distr: 3, log: 10 } : { auto: true }])),
    },
    axes,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: def.xLabel ?? (def.xTime ? 'time' : 'x') },
      ...def.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          scale: s.scale ?? 'y',
          spanGaps: def.spanGaps ?? false,
          ...(s.value ? { value: (_u: uPlot, v: number | null) => (v === null ? '—' : s.value!(v)) } : {}),
          ...(barPaths ? { paths: barPaths, fill: s.color, points: { show: false } } : {}),
        }),
      ),
    ],
  };
}
