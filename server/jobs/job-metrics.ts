/**
 * Samples a job's counters once a second into MetricPoints: rates come from the
 * difference between samples, so the push path only increments counters.
 */
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { JobStats } from './job-stats.js';

export const HISTORY_POINTS = 600;

export class MetricSampler {
  readonly history: MetricPoint[] = [];
  private last: { at: number; examples: number; pushes: number } | null = null;

  sample(at: number, version: number, stats: JobStats): MetricPoint {
    const prev = this.last;
    const dt = prev ? (at - prev.at) / 1000 : 0;
    const point: MetricPoint = {
      at,
      version,
      examplesSeen: stats.examplesSeen,
      examplesPerSecond: prev && dt > 0 ? (stats.examplesSeen - prev.examples) / dt : 0,
      pushesPerSecond: prev && dt > 0 ? (stats.pushesAccepted - prev.pushes) / dt : 0,
      trainLoss: stats.trainLoss,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
    };
    this.last = { at, examples: stats.examplesSeen, pushes: stats.pushesAccepted };
    this.history.push(point);
    if (this.history.length > HISTORY_POINTS) this.history.shift();
    return point;
  }

  /** Rates restart from the next sample (after a pause, rates over the gap would mislead). */
  resetRates(): void {
    this.last = null;
  }
}
