/**
 * Turns a job's records into uPlot's column arrays. Pure functions: the charts panel
 * decides when to call them, these decide only what the columns are.
 */
import type uPlot from 'uplot';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';

const sec = (ms: number): number => ms / 1000;

export function evalsByTime(evals: readonly EvalRecord[]): uPlot.AlignedData {
  return [evals.map((e) => sec(e.at)), evals.map((e) => e.accuracy), evals.map((e) => e.loss)];
}

export function evalsByExamples(evals: readonly EvalRecord[]): uPlot.AlignedData {
  // uPlot needs ascending x; a resumed job can repeat an examplesSeen value, never go back.
  const sorted = [...evals].sort((a, b) => a.examplesSeen - b.examplesSeen);
  return [sorted.map((e) => e.examplesSeen), sorted.map((e) => e.accuracy), sorted.map((e) => e.loss)];
}

export function trainLoss(history: readonly MetricPoint[]): uPlot.AlignedData {
  return [history.map((p) => sec(p.at)), history.map((p) => p.trainLoss)];
}

export function throughput(history: readonly MetricPoint[]): uPlot.AlignedData {
  return [history.map((p) => sec(p.at)), history.map((p) => p.examplesPerSecond), history.map((p) => p.pushesPerSecond)];
}

/**
 * Bytes per second in and out. MetricPoint.bytesIn/bytesOut are read as running
 * totals (as JobDetail.bytesIn is), so the rate is the difference between points;
 * a total that goes down (coordinator restart) leaves a gap rather than a spike.
 */
export function byteRates(history: readonly MetricPoint[]): uPlot.AlignedData {
  const x: number[] = [];
  const rin: (number | null)[] = [];
  const rout: (number | null)[] = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1]!;
    const b = history[i]!;
    const dt = sec(b.at - a.at);
    x.push(sec(b.at));
    rin.push(dt > 0 && b.bytesIn >= a.bytesIn ? (b.bytesIn - a.bytesIn) / dt : null);
    rout.push(dt > 0 && b.bytesOut >= a.bytesOut ? (b.bytesOut - a.bytesOut) / dt : null);
  }
  return [x, rin, rout];
}

/** staleness → accepted pushes, as bars in ascending staleness. */
export function stalenessBars(staleness: Record<number, number>): uPlot.AlignedData {
  const keys = Object.keys(staleness)
    .map(Number)
    .filter((k) => Number.isFinite(k))
    .sort((a, b) => a - b);
  return [keys, keys.map((k) => staleness[k] ?? 0)];
}
