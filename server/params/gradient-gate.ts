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
import { createLogger } from '../logger.js';
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

const log = createLogger('norm-bound');

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
  private readonly decoded: { views: readonly Float32Array[]; norm: number; batches: number; clipped: number | null };

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
    this.decoded = { views: store.gradientBuffer, norm: 0, batches: 0, clipped: null };
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
    const verdict = this.normBound.judge(normPerBatch, workerId);
    if (verdict && 'ok' in verdict) return verdict;
    // An early transient (norm-bound.ts): scaled down to the bound, so it weighs what the largest accepted push does.
    const scale = verdict?.clip ?? 1;
    if (scale !== 1) scaleInPlace(decoded.views, scale);
    const astray = baseVersion === undefined ? null : this.direction?.check({ workerId, baseVersion }, decoded.views);
    if (astray) return astray;
    // Last, after every check: only a gradient that passed them all shapes the bound.
    this.normBound.record(workerId, normPerBatch, scale !== 1);
    if (scale !== 1) log.info('push clipped to the norm bound', { worker: workerId, normPerBatch: +normPerBatch.toPrecision(3), scale: +scale.toPrecision(3) });
    decoded.norm = norm * scale;
    decoded.clipped = scale === 1 ? null : scale;
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

/** Multiplies every value by `scale`, in place (only on a clip: the hot path never scales). */
function scaleInPlace(views: readonly Float32Array[], scale: number): void {
  for (const v of views) for (let i = 0; i < v.length; i++) v[i]! *= scale;
}
