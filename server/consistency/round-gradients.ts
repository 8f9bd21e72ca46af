/**
 * What a sync round holds of its accepted gradients until it closes. The mean needs
 * only running sums (one buffer per tensor); the robust rules need every worker's
 * gradient, so they keep one copy per push, in per-slot buffers allocated when a
 * round first grows to that many pushes and reused by every later round. Memory for
 * the robust rules: (largest round seen) × the model's fp32 size.
 */
import type { StoredTensor } from '../params/parameter-store.js';
import { createKrumScratch, krumDropCount, multiKrumSelect, type KrumScratch } from './multi-krum.js';
import { aggregateInto, meanInto, type AggregationRule } from './robust-aggregation.js';

export interface RoundGradients {
  /** Pushes held by the open round. */
  readonly count: number;
  /** Adds the gradient held in the store's scratch buffers to the round. */
  add(): void;
  /** Writes the round's aggregate into the scratch buffers and empties the round. */
  aggregate(): void;
  /** Empties the round without aggregating (a dropped round). */
  clear(): void;
}

export function createRoundGradients(tensors: readonly StoredTensor[], rule: AggregationRule): RoundGradients {
  return rule.aggregation === 'mean' ? new SummedGradients(tensors) : new KeptGradients(tensors, rule);
}

/** The mean: gradients summed as they arrive, divided by their count at close. */
class SummedGradients implements RoundGradients {
  count = 0;
  private readonly sums: Float32Array[];

  constructor(private readonly tensors: readonly StoredTensor[]) {
    this.sums = tensors.map((t) => new Float32Array(t.values.length));
  }

  add(): void {
    for (let t = 0; t < this.tensors.length; t++) {
      const sum = this.sums[t]!;
      const g = this.tensors[t]!.scratch;
      for (let i = 0; i < sum.length; i++) sum[i] += g[i]!;
    }
    this.count += 1;
  }

  aggregate(): void {
    const inv = 1 / this.count;
    for (let t = 0; t < this.tensors.length; t++) {
      const sum = this.sums[t]!;
      const out = this.tensors[t]!.scratch;
      for (let i = 0; i < sum.length; i++) {
        out[i] = sum[i]! * inv;
        sum[i] = 0;
      }
    }
    this.count = 0;
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
    private readonly tensors: readonly StoredTensor[],
    private readonly rule: AggregationRule,
  ) {
    this.byTensor = tensors.map(() => []);
  }

  add(): void {
    const k = this.count;
    if (k === this.column.length) this.growTo(k + 1);
    for (let t = 0; t < this.tensors.length; t++) this.byTensor[t]![k]!.set(this.tensors[t]!.scratch);
    this.count += 1;
  }

  aggregate(): void {
    if (this.rule.aggregation === 'multi-krum') this.keptMean();
    else for (let t = 0; t < this.tensors.length; t++) aggregateInto(this.tensors[t]!.scratch, this.byTensor[t]!, this.count, this.rule, this.column);
    this.count = 0;
  }

  private keptMean(): void {
    const n = this.count;
    multiKrumSelect(this.byTensor, n, krumDropCount(n, this.rule.trimFraction), this.krum, this.kept);
    const slots = [];
    for (let k = 0; k < n; k++) if (this.kept[k]) slots.push(k);
    for (let t = 0; t < this.tensors.length; t++) {
      const byTensor = this.byTensor[t]!;
      meanInto(this.tensors[t]!.scratch, slots.map((k) => byTensor[k]!), slots.length);
    }
  }

  clear(): void {
    this.count = 0; // stale slot contents are overwritten before they are read again
  }

  private growTo(slots: number): void {
    for (let t = 0; t < this.tensors.length; t++) {
      const list = this.byTensor[t]!;
      while (list.length < slots) list.push(new Float32Array(this.tensors[t]!.values.length));
    }
    this.column = new Float32Array(slots);
    this.krum = createKrumScratch(slots);
    this.kept = new Uint8Array(slots);
  }
}
