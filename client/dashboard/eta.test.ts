import { expect, it } from 'vitest';
import { parseJobSpec, type JobSpec } from '../../shared/job-spec.js';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { accuracySlope, estimateFinish, fmtDuration, recentRate } from './eta.js';

const spec = (input: object): JobSpec => {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};
const point = (examplesPerSecond: number): MetricPoint => ({ at: 0, version: 0, examplesSeen: 0, examplesPerSecond, pushesPerSecond: 0, trainLoss: null, bytesIn: 0, bytesOut: 0 });
const evalAt = (examplesSeen: number, accuracy: number): EvalRecord => ({ version: 0, examplesSeen, accuracy, loss: 1, at: 0 });

it('takes the recent rate as the mean of the last minute of samples', () => {
  expect(recentRate([])).toBe(0);
  expect(recentRate([...Array(100).fill(point(1)), ...Array(60).fill(point(500))])).toBe(500);
});

it('estimates the epochs left at the recent rate', () => {
  const job = { state: 'running' as const, spec: spec({ epochs: 2 }), examplesSeen: 20_000, examplesPerEpoch: 60_000 };
  const e = estimateFinish(job, Array(60).fill(point(1000)), []);
  expect(e).toMatchObject({ rate: 1000, epochsSeconds: 100, targetSeconds: null, targetNote: null, seconds: 100 });
  expect(estimateFinish({ ...job, state: 'paused' }, Array(60).fill(point(1000)), [])).toBeNull();
  expect(estimateFinish(job, [point(0)], [])?.seconds).toBeNull();
});

it('extrapolates the accuracy line to the target, and finishes at the sooner end', () => {
  const job = { state: 'running' as const, spec: spec({ epochs: 20, targetAccuracy: 0.9 }), examplesSeen: 30_000, examplesPerEpoch: 60_000 };
  const evals = [evalAt(10_000, 0.5), evalAt(20_000, 0.6), evalAt(30_000, 0.7)];
  expect(accuracySlope(evals)).toBeCloseTo(1e-5, 12);
  const e = estimateFinish(job, Array(60).fill(point(1000)), evals)!;
  // 0.2 of accuracy at 1e-5 per example: 20,000 examples, 20 s at 1,000/s; the epochs would take 1,170 s.
  expect(e.targetSeconds).toBeCloseTo(20, 6);
  expect(e.epochsSeconds).toBe(1170);
  expect(e.seconds).toBeCloseTo(20, 6);
  expect(estimateFinish(job, Array(60).fill(point(1000)), [evalAt(10_000, 0.7), evalAt(20_000, 0.6)])).toMatchObject({ targetSeconds: null, targetNote: 'accuracy is not rising', seconds: 1170 });
  expect(estimateFinish(job, Array(60).fill(point(1000)), [evalAt(10_000, 0.95)])?.seconds).toBe(0);
});

it('formats durations for people', () => {
  expect([45, 720, 3 * 3600 + 20 * 60, 52 * 3600].map(fmtDuration)).toEqual(['45 s', '12 min', '3 h 20 min', '2 d 4 h']);
});
