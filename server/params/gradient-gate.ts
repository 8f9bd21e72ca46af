/**
 * Everything a pushed gradient must pass before it may join an update, in order: the
 * payload cap and layout (push-validation.ts, decoding into the store's gradient
 * buffer), finite values, the Byzantine norm bound and the trusted direction. One per
 * job, built from its model and codec, so the parameter server's push path is one call,
 * whose answer is the decoded gradient itself (or why it was refused).
 */
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import type { DecodedGradient } from './gradient.js';
import type { DirectionCheck } from './direction-check.js';
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
    /** The trusted-direction check (direction-check.ts), or null when the job has none. */
    private readonly direction: DirectionCheck | null = null,
  ) {
    const codecBytes = store.tensors.reduce((n, t) => n + codec.byteLength(t.values.length), 0);
    this.maxBytes = payloadCapBytes(store.parameterCount, codecBytes);
    this.normBound = new NormBound(normBound, referenceNorm);
    this.decoded = { views: store.gradientBuffer, norm: 0, batches: 0 };
  }

  /**
   * Decodes `workerId`'s gradient, computed on `baseVersion`, into the store's gradient buffer and checks it: the
   * decoded gradient when it may join an update (valid until the buffer is written
   * again), else the refusal.
   */
  check(push: GradientPayload, workerId: string, baseVersion?: number): DecodedGradient | Failure {
    const decoded = this.decoded;
    const bad = decodeGradientInto(this.store.specs, decoded.views, push.manifest, push.data, { codec: this.codec, maxBytes: this.maxBytes });
    if (bad) return bad;
    // One pass gives both checks: a NaN or Infinity anywhere makes the norm non-finite.
    const norm = this.store.norm(decoded);
    if (!Number.isFinite(norm)) return fail(ErrorCode.NON_FINITE, 'Gradient contains NaN or Infinity');
    const normPerBatch = norm / push.batches;
    const outlier = this.normBound.judge(normPerBatch);
    if (outlier) return outlier;
    const astray = baseVersion === undefined ? null : this.direction?.check({ workerId, baseVersion }, decoded.views);
    if (astray) return astray;
    // Last, after every check: only a gradient that passed them all shapes the bound.
    this.normBound.record(workerId, normPerBatch);
    decoded.norm = norm;
    decoded.batches = push.batches;
    return decoded;
  }

  /** The PS's own norm per batch at recent parameters (trusted-snapshots.ts): the norm bound's reference from now on. */
  setReference(normPerBatch: number): void {
    this.normBound.setReference(normPerBatch);
  }

  /** A worker left the job: its norm no longer counts toward the bound, nor its direction verdict. */
  forget(workerId: string): void {
    this.normBound.forget(workerId);
    this.direction?.forget(workerId);
  }
}
