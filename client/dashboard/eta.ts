/**
 * When will a running job finish? It ends at the first of two things:
 * - its epochs: (epochs × examples per epoch − examples seen) ÷ the recent rate, the
 *   mean examples/s over the last RATE_WINDOW samples (one a second);
 * - its target accuracy, if set: a straight line through the last TARGET_EVALS
 *   evaluations (accuracy against examples seen, least squares) says how many more
 *   examples reach the target, at the same rate. Only while accuracy is rising; it is
 *   a rough guide (accuracy curves flatten), and the dashboard says so.
 */
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import type { JobInfo } from './store.js';

export const RATE_WINDOW = 60;
export const TARGET_EVALS = 5;

export interface FinishEstimate {
  /** Seconds until the job finishes (the sooner of the two below), or null when neither can be estimated. */
  seconds: number | null;
  /** Examples per second the estimate assumes. */
  rate: number;
  /** Seconds until the last epoch ends at that rate. */
  epochsSeconds: number | null;
  /** Seconds until the target accuracy at the recent gain per example; null without a target or while accuracy is not rising. */
  targetSeconds: number | null;
  /** Why there is no target estimate, when a target is set. */
  targetNote: string | null;
}

export function recentRate(history: readonly MetricPoint[]): number {
  const recent = history.slice(-RATE_WINDOW);
  if (recent.length === 0) return 0;
  return recent.reduce((a, p) => a + p.examplesPerSecond, 0) / recent.length;
}

/** Accuracy gained per example over the last evaluations (least-squares slope), or null with fewer than two. */
export function accuracySlope(evals: readonly EvalRecord[]): number | null {
  const last = evals.slice(-TARGET_EVALS);
  if (last.length < 2) return null;
  const mx = last.reduce((a, e) => a + e.examplesSeen, 0) / last.length;
  const my = last.reduce((a, e) => a + e.accuracy, 0) / last.length;
  let sxx = 0;
  let sxy = 0;
  for (const e of last) {
    sxx += (e.examplesSeen - mx) ** 2;
    sxy += (e.examplesSeen - mx) * (e.accuracy - my);
  }
  return sxx > 0 ? sxy / sxx : null;
}

export function estimateFinish(job: Pick<JobInfo, 'state' | 'spec' | 'examplesSeen' | 'examplesPerEpoch'>, history: readonly MetricPoint[], evals: readonly EvalRecord[]): FinishEstimate | null {
  if (job.state !== 'running') return null;
  const rate = recentRate(history);
  const remaining = Math.max(0, job.spec.epochs * job.examplesPerEpoch - job.examplesSeen);
  const epochsSeconds = rate > 0 ? remaining / rate : null;

  let targetSeconds: number | null = null;
  let targetNote: string | null = null;
  const target = job.spec.targetAccuracy;
  if (target !== null) {
    const last = evals.at(-1);
    const slope = accuracySlope(evals);
    if (last && last.accuracy >= target) targetSeconds = 0;
    else if (slope === null) targetNote = `needs ${Math.min(2, TARGET_EVALS)} evaluations`;
    else if (slope <= 0) targetNote = 'accuracy is not rising';
    else if (rate > 0 && last) targetSeconds = (target - last.accuracy) / slope / rate;
  }
  const candidates = [epochsSeconds, targetSeconds].filter((s): s is number => s !== null);
  return { seconds: candidates.length ? Math.min(...candidates) : null, rate, epochsSeconds, targetSeconds, targetNote };
}

/** "45 s", "12 min", "3 h 20 min", "2 d 4 h". */
export function fmtDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}
