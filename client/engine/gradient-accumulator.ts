/** Sums mini-batch gradients between pushes (Downpour's nPush). */
import { encodeTensors, type TensorPayload } from '../../shared/codec.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';

export class GradientAccumulator {
  private readonly sums: Float32Array[];
  batches = 0;
  examples = 0;
  private lossSum = 0;

  constructor(private readonly specs: readonly TensorSpec[]) {
    this.sums = specs.map((s) => new Float32Array(sizeOf(s.shape)));
  }

  add(grads: readonly Float32Array[], loss: number, examples: number): void {
    for (let t = 0; t < this.sums.length; t++) {
      const sum = this.sums[t]!;
      const g = grads[t]!;
      for (let i = 0; i < sum.length; i++) sum[i] += g[i]!;
    }
    this.batches += 1;
    this.examples += examples;
    this.lossSum += loss;
  }

  get meanLoss(): number {
    return this.batches ? this.lossSum / this.batches : 0;
  }

  /** Encodes the sum and starts over. */
  take(): TensorPayload {
    const payload = encodeTensors(this.specs.map((s, i) => ({ name: s.name, shape: s.shape, values: this.sums[i]! })));
    for (const s of this.sums) s.fill(0);
    this.batches = 0;
    this.examples = 0;
    this.lossSum = 0;
    return payload;
  }
}
