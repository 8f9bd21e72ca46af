/**
 * What a sync round holds of its accepted gradients until it closes. The mean needs
 * only running sums (one buffer per tensor); the robust rules need every worker's
 * gradient, so they keep one copy per push, in per-slot buffers allocated when a
 * round first grows to that many pushes and reused by every later round. Memory for
 * the robust rules: (largest round seen) × the model's fp32 size.
 */
import type { Gradient } from '../params/gradient.js';
import { createKrumScratch, krumDropCount, multiKrumSelect, type KrumScratch } from './multi-krum.js';
import { aggregateInto, meanInto, type AggregationRule } from './robust-aggregation.js';

export interface RoundGradients {
  /** Pushes held by the open round. */
  readonly count: number;
  /** Adds a copy of `gradient` to the round (the caller's gradient may change after). */
  add(gradient: Gradient): void;
  /** Writes the round's aggregate into `out` (one array per tensor), empties the round and returns `out` as a gradient. */
  aggregateInto(out: readonly Float32Array[]): Gradient;
  /** Empties the round without aggregating (a dropped round). */
  clear(): void;
}

/** `sizes`: each tensor's element count, in the store's order. */
export function createRoundGradients(sizes: readonly number[], rule: AggregationRule): RoundGradients {
  return rule.aggregation === 'mean' ? new SummedGradients(sizes) : new KeptGradients(sizes, rule);
}

/** The mean: gradients summed as they arrive, divided by their count at close. */
class SummedGradients implements RoundGradients {
  count = 0;
  private readonly sums: Float32Array[];

  constructor(sizes: readonly number[]) {
    this.sums = sizes.map((size) => new Float32Array(size));
  }

  add(gradient: Gradient): void {
    for (let t = 0; t < this.sums.length; t++) {
      const sum = this.sums[t]!;
      const g = gradient.views[t]!;
      for (let i = 0; i < sum.length; i++) sum[i] += g[i]!;
    }
    this.count += 1;
  }

  aggregateInto(views: readonly Float32Array[]): Gradient {
    const inv = 1 / this.count;
    for (let t = 0; t < this.sums.length; t++) {
      const sum = this.sums[t]!;
      const out = views[t]!;
      for (let i = 0; i < sum.length; i++) {
        out[i] = sum[i]! * inv;
        sum[i] = 0;
      }
    }
    this.count = 0;
    return { views };
  }

  clear(): void {
    for (const s of this.sums) s.fill(0);
    this.count = 0;
  }
}

/**
 * Median, trimmed mean or Multi-Krum: each push copied into its slot; at close,
 * aggregated coordinate by coordinate, or (Multi-Krum) the mean of the slots it keeps.
 */
class KeptGradients implements RoundGradients {
  count = 0;
  /** byTensor[t][k]: slot k's copy of tensor t. */
  private readonly byTensor: Float32Array[][];
  /** One coordinate's values across the round, sorted in place. */
  private column = new Float32Array(0);
  private krum: KrumScratch = createKrumScratch(0);
  private kept = new Uint8Array(0);

  constructor(
    private readonly sizes: readonly number[],
    private readonly rule: AggregationRule,
  ) {
    this.byTensor = sizes.map(() => []);
  }

  add(gradient: Gradient): void {
    const k = this.count;
    if (k === this.column.length) this.growTo(k + 1);
    for (let t = 0; t < this.sizes.length; t++) this.byTensor[t]![k]!.set(gradient.views[t]!);
    this.count += 1;
  }

  aggregateInto(views: readonly Float32Array[]): Gradient {
    if (this.rule.aggregation === 'multi-krum') this.keptMean(views);
    else for (let t = 0; t < this.sizes.length; t++) aggregateInto(views[t]!, this.byTensor[t]!, this.count, this.rule, this.column);
    this.count = 0;
    return { views };
  }

  private keptMean(views: readonly Float32Array[]): void {
    const n = this.count;
    multiKrumSelect(this.byTensor, n, krumDropCount(n, this.rule.trimFraction), this.krum, this.kept);
    const slots = [];
    for (let k = 0; k < n; k++) if (this.kept[k]) slots.push(k);
    for (let t = 0; t < this.sizes.length; t++) {
      const byTensor = this.byTensor[t]!;
      meanInto(views[t]!, slots.map((k) => byTensor[k]!), slots.length);
    }
  }

  clear(): void {
    this.count = 0; // stale slot contents are overwritten before they are read again
  }

  private growTo(slots: number): void {
    for (let t = 0; t < this.sizes.length; t++) {
      const list = this.byTensor[t]!;
      while (list.length < slots) list.push(new Float32Array(this.sizes[t]!));
    }
    this.column = new Float32Array(slots);
    this.krum = createKrumScratch(slots);
    this.kept = new Uint8Array(slots);
  }
}
