/**
 * Coordinate-wise robust aggregation of one sync round's gradients: for every entry,
 * the median or the trimmed mean of the n workers' values for that entry. A minority
 * of Byzantine gradients (sign-flipped, scaled) lands at the ends of each coordinate's
 * sorted values, where both rules ignore it; the mean would follow it.
 *
 * The hot loop allocates nothing: each coordinate's n values go into one reused
 * column and are sorted in place. Gradients reaching here are finite (the Job refuses
 * NaN and Infinity before a push joins a round), so the order is total.
 */
import type { AggregationName } from '../../shared/job-spec.js';

export interface AggregationRule {
  aggregation: AggregationName;
  /** trimmed-mean: fraction of the n values dropped from each end, in [0, 0.5). */
  trimFraction: number;
}

/** Below this many values, insertion sort beats a call into the native sort. */
const INSERTION_SORT_MAX = 32;

/**
 * Values dropped from each end for a round of n gradients: floor(trimFraction · n).
 * With trimFraction < 0.5 at least one value always remains; the clamp only guards a
 * caller that skipped the spec's validation.
 */
export function trimCount(n: number, trimFraction: number): number {
  return Math.min(Math.floor(trimFraction * n), (n - 1) >> 1);
}

/**
 * Writes into `out` the coordinate-wise aggregate of `inputs[0..n)` (each as long as
 * `out`). `column` is caller-owned scratch of length ≥ n, reused across calls.
 */
export function aggregateInto(out: Float32Array, inputs: readonly Float32Array[], n: number, rule: AggregationRule, column: Float32Array): void {
  if (n < 1 || n > inputs.length) throw new Error(`aggregateInto needs 1..${inputs.length} inputs, got ${n}`);
  if (column.length < n) throw new Error(`aggregateInto: column scratch holds ${column.length} values, the round has ${n}`);
  if (rule.aggregation === 'multi-krum') throw new Error('aggregateInto: multi-krum combines whole gradients (multi-krum.ts), not coordinates');
  const trim = rule.aggregation === 'trimmed-mean' ? trimCount(n, rule.trimFraction) : 0;
  if (rule.aggregation === 'mean' || (rule.aggregation === 'trimmed-mean' && trim === 0)) {
    meanInto(out, inputs, n);
    return;
  }
  // One view for the whole call: the native sort of larger rounds then allocates nothing per coordinate.
  const sorted = column.subarray(0, n);
  const median = rule.aggregation === 'median';
  const mid = n >> 1;
  const inv = 1 / (n - 2 * trim);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < n; k++) sorted[k] = inputs[k]![i]!;
    sortColumn(sorted, n);
    if (median) {
      out[i] = n & 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    } else {
      let sum = 0;
      for (let k = trim; k < n - trim; k++) sum += sorted[k]!;
      out[i] = sum * inv;
    }
  }
}

/** Writes into `out` the mean of `inputs[0..n)`. */
export function meanInto(out: Float32Array, inputs: readonly Float32Array[], n: number): void {
  const inv = 1 / n;
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += inputs[k]![i]!;
    out[i] = sum * inv;
  }
}

function sortColumn(c: Float32Array, n: number): void {
  if (n > INSERTION_SORT_MAX) {
    c.sort();
    return;
  }
  for (let k = 1; k < n; k++) {
    const v = c[k]!;
    let j = k - 1;
    while (j >= 0 && c[j]! > v) {
      c[j + 1] = c[j]!;
      j--;
    }
    c[j + 1] = v;
  }
}
