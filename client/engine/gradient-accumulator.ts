/**
 * Sums mini-batch gradients between pushes (Downpour's nPush) and encodes the sum
 * with the job's codec.
 *
 * Error feedback: with a lossy codec (fp16, int8, topk) the part of the sum that the
 * push did not carry, sum − decode(encode(sum)), stays in the accumulator and joins
 * the next gradients before they are encoded. Nothing is ever dropped, only delayed:
 * everything pushed plus the residual equals the sum of every gradient added. For
 * topk that residual is exactly the entries not selected, as in Deep Gradient
 * Compression (Lin et al., 2018); for the quantisers it is the rounding error
 * (EF-SGD, Karimireddy et al., 2019).
 */
import { asBytes, encodeTensors, getCodec, type TensorCodec, type TensorPayload } from '../../shared/codec.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';

export class GradientAccumulator {
  /** The running sum; after take() with a lossy codec, the residual. */
  private readonly sums: Float32Array[];
  /** Decode target for the residual computation (lossy codecs only). */
  private readonly sent: Float32Array[];
  batches = 0;
  examples = 0;
  private lossSum = 0;

  constructor(
    private readonly specs: readonly TensorSpec[],
    private readonly codec: TensorCodec = getCodec('fp32')!,
  ) {
    this.sums = specs.map((s) => new Float32Array(sizeOf(s.shape)));
    this.sent = codec.lossy ? specs.map((s) => new Float32Array(sizeOf(s.shape))) : [];
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

  /** The residual carried into the next push (all zeros for a lossless codec after take()). */
  residual(): readonly Float32Array[] {
    return this.sums;
  }

  /** Encodes the sum and starts over, keeping what the codec could not carry. */
  take(): TensorPayload {
    const payload = encodeTensors(
      this.specs.map((s, i) => ({ name: s.name, shape: s.shape, values: this.sums[i]! })),
      this.codec,
    );
    if (this.codec.lossy) {
      // Decode what was actually sent (the server will see exactly this) and keep the rest.
      const bytes = asBytes(payload.data);
      payload.manifest.tensors.forEach((entry, t) => {
        const sent = this.sent[t]!;
        const bad = this.codec.readInto(entry, bytes, sent);
        if (bad) throw new Error(`Own ${this.codec.id} encoding of ${entry.name} does not decode: ${bad}`);
        const sum = this.sums[t]!;
        let poison = 0; // r·0 is NaN exactly when r is NaN or ±Infinity
        for (let i = 0; i < sum.length; i++) {
          const r = sum[i]! - sent[i]!;
          sum[i] = r;
          poison += r * 0;
        }
        // A non-finite gradient gets this push refused (NON_FINITE); do not carry it into every later one.
        if (poison !== 0) sum.fill(0);
      });
    } else {
      for (const s of this.sums) s.fill(0);
    }
    this.batches = 0;
    this.examples = 0;
    this.lossSum = 0;
    return payload;
  }
}
