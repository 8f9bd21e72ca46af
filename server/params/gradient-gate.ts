/**
 * Everything a pushed gradient must pass before it may join an update, in order: the
 * payload cap and layout (push-validation.ts, decoding into the store's gradient
 * buffer), finite values, and the Byzantine norm bound. One per job, built from its
 * model and codec, so the parameter server's push path is one call, whose answer is
 * the decoded gradient itself (or why it was refused).
 */
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import type { DecodedGradient } from './gradient.js';
import { NormBound } from './norm-bound.js';
import type { ParameterStore } from './parameter-store.js';
import { decodeGradientInto, type UncheckedManifest } from './push-validation.js';

/**
 * Headroom over the model's own size for a gradient payload: the larger of its fp32
 * size and its size in the job's codec (topk with a ratio above 0.5 outgrows fp32).
 */
export function payloadCapBytes(parameterCount: number, codecBytes = 0): number {
  return Math.max(parameterCount * 4, codecBytes) + 64 * 1024;
}

/** What the gate reads of a push. */
export interface GradientPayload {
  manifest: UncheckedManifest;
  data: ArrayBuffer | Uint8Array;
  /**
   * Mini-batches summed into the gradient, as the coordinator counts them (the lease's
   * batches, never the worker's claim): the norm bound judges the norm per batch.
   */
  batches: number;
}

export class GradientGate {
  private readonly maxBytes: number;
  private readonly normBound: NormBound;
  /** The one answer every check that passes returns, refilled each time: see DecodedGradient for how long it holds. */
  private readonly decoded: { views: readonly Float32Array[]; norm: number; batches: number };

  /** `normBound`: the spec's factor (0: off); `referenceNorm`: an honest norm that anchors it, or null. */
  constructor(
    private readonly store: ParameterStore,
    private readonly codec: TensorCodec,
    normBound: number,
    referenceNorm: number | null,
  ) {
    const codecBytes = store.tensors.reduce((n, t) => n + codec.byteLength(t.values.length), 0);
    this.maxBytes = payloadCapBytes(store.parameterCount, codecBytes);
    this.normBound = new NormBound(normBound, referenceNorm);
    this.decoded = { views: store.gradientBuffer, norm: 0, batches: 0 };
  }

  /**
   * Decodes `workerId`'s gradient into the store's gradient buffer and checks it: the
   * decoded gradient when it may join an update (valid until the buffer is written
   * again), else the refusal.
   */
  check(push: GradientPayload, workerId: string): DecodedGradient | Failure {
    const decoded = this.decoded;
    const bad = decodeGradientInto(this.store.specs, decoded.views, push.manifest, push.data, { codec: this.codec, maxBytes: this.maxBytes });
    if (bad) return bad;
    // One pass gives both checks: a NaN or Infinity anywhere makes the norm non-finite.
    const norm = this.store.norm(decoded);
    if (!Number.isFinite(norm)) return fail(ErrorCode.NON_FINITE, 'Gradient contains NaN or Infinity');
    const normPerBatch = norm / push.batches;
    const outlier = this.normBound.judge(normPerBatch);
    if (outlier) return outlier;
    // Further checks of the decoded gradient (a trusted-direction check) go here, before the bound records it.
    // Last, after every check: only a gradient that passed them all shapes the bound.
    this.normBound.record(workerId, normPerBatch);
    decoded.norm = norm;
    decoded.batches = push.batches;
    return decoded;
  }

  /** A worker left the job: its norm no longer counts toward the bound. */
  forget(workerId: string): void {
    this.normBound.forget(workerId);
  }
}
