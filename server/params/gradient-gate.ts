/**
 * Everything a pushed gradient must pass before it may join an update, in order: the
 * payload cap and layout (push-validation.ts, decoding into the store's gradient
 * buffer), finite values, the Byzantine norm bound (per stage part for a replica step)
 * and the trusted direction. One per
 * job, built from its model and codec, so the parameter server's push path is one call,
 * whose answer is the decoded gradient itself (or why it was refused).
 */
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import type { DecodedGradient } from './gradient.js';
import type { DirectionCheck, JudgedPart } from './direction-check.js';
import type { NormBound } from './norm-bound.js';
import { createLogger } from '../logger.js';
import type { StagePart } from './parameter-service.js';
import type { ParameterStore } from './parameter-store.js';
import { RangeNormBounds } from './range-norm-bounds.js';
import type { ReferenceNorms } from './reference-norms.js';
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
  /** A replica step joined in process: its stage parts, each judged on its own. */
  stages?: readonly StagePart[];
}

export class GradientGate {
  private readonly maxBytes: number;
  private readonly bounds: RangeNormBounds;
  /** The one answer every check that passes returns, refilled each time: see DecodedGradient for how long it holds. */
  private readonly decoded: { views: readonly Float32Array[]; norm: number; batches: number; clipped: number | null; stageClips: (number | null)[] | null };
  /** A whole model's push as one part, refilled each time (the data-parallel path allocates nothing). */
  private readonly whole: GatedPart[];

  /** `normBound`: the spec's factor (0: off); `referenceNorm`: the PS's own norms per tensor that anchor it, or null. */
  constructor(
    private readonly store: ParameterStore,
    private readonly codec: TensorCodec,
    normBound: number,
    referenceNorm: ReferenceNorms | null,
    /** The trusted-direction check (direction-check.ts), or null when the job has none. */
    private readonly direction: DirectionCheck | null = null,
  ) {
    const codecBytes = store.tensors.reduce((n, t) => n + codec.byteLength(t.values.length), 0);
    this.maxBytes = payloadCapBytes(store.parameterCount, codecBytes);
    this.bounds = new RangeNormBounds(normBound, referenceNorm);
    this.decoded = { views: store.gradientBuffer, norm: 0, batches: 0, clipped: null, stageClips: null };
    this.whole = [{ worker: '', from: 0, to: store.specs.length, bound: this.bounds.of(0, store.specs.length), norm: 0, scale: 1 }];
  }

  /**
   * Decodes `workerId`'s gradient, computed on `baseVersion`, into the store's gradient
   * buffer and checks it: the decoded gradient when it may join an update (valid until
   * the buffer is written again), else the refusal. A replica step's (`push.stages`) is
   * judged part by part, by the norm bound and the direction check: a refusal names the
   * stage whose part it was, a clip scales only that part.
   */
  check(push: GradientPayload, workerId: string, baseVersion?: number): DecodedGradient | (Failure & { stage?: number }) {
    const decoded = this.decoded;
    const bad = decodeGradientInto(this.store.specs, decoded.views, push.manifest, push.data, { codec: this.codec, maxBytes: this.maxBytes });
    if (bad) return bad;
    const parts = push.stages ? this.stageParts(push.stages) : this.wholeModel(workerId);
    const split = parts !== this.whole;
    let squares = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      // One pass gives both checks: a NaN or Infinity anywhere makes the norm non-finite.
      part.norm = this.store.bufferNorm(part.from, part.to);
      if (!Number.isFinite(part.norm)) return blamed(fail(ErrorCode.NON_FINITE, 'Gradient contains NaN or Infinity'), split, i);
      squares += part.norm * part.norm;
    }
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      // A stage without weights (a Flatten) pushes nothing to judge.
      if (part.from === part.to) continue;
      const verdict = part.bound.judge(part.norm / push.batches, part.worker);
      if (verdict && 'ok' in verdict) return blamed(verdict, split, i);
      // An early transient (norm-bound.ts): scaled down to the bound, so it weighs what the largest accepted push does.
      part.scale = verdict?.clip ?? 1;
    }
    let clipped: number | null = null;
    for (const part of parts) {
      if (part.scale === 1) continue;
      scaleInPlace(decoded.views, part.from, part.to, part.scale);
      squares += part.norm * part.norm * (part.scale * part.scale - 1);
      clipped = Math.min(clipped ?? 1, part.scale);
    }
    const astray = baseVersion === undefined ? null : this.direction?.check(baseVersion, decoded.views, parts);
    if (astray) return astray;
    // Last, after every check: only a gradient that passed them all shapes the bound.
    for (const part of parts) {
      if (part.from === part.to) continue;
      part.bound.record(part.worker, part.norm / push.batches, part.scale !== 1);
      if (part.scale !== 1) log.info('push clipped to the norm bound', { worker: part.worker, tensors: `${part.from}..${part.to}`, normPerBatch: +(part.norm / push.batches).toPrecision(3), scale: +part.scale.toPrecision(3) });
    }
    decoded.norm = Math.sqrt(squares);
    decoded.clipped = clipped;
    decoded.stageClips = split ? parts.map((p) => (p.scale === 1 ? null : p.scale)) : null;
    decoded.batches = push.batches;
    return decoded;
  }

  /** The PS's own norms per batch at recent parameters (trusted-snapshots.ts): the norm bound's references from now on. */
  setReference(norms: ReferenceNorms): void {
    this.bounds.setReference(norms);
  }

  /** A worker left the job: its norms no longer count toward any bound, nor its direction verdict. */
  forget(workerId: string): void {
    this.bounds.forget(workerId);
    this.direction?.forget(workerId);
  }

  private wholeModel(workerId: string): GatedPart[] {
    const part = this.whole[0]!;
    part.worker = workerId;
    part.scale = 1;
    return this.whole;
  }

  /** A replica step's stage parts as ranges of the store's tensors (the replica steps checked that they cover them in order). */
  private stageParts(stages: readonly StagePart[]): GatedPart[] {
    let from = 0;
    return stages.map((s) => {
      const to = from + s.tensors;
      const part = { worker: s.worker, from, to, bound: this.bounds.of(from, to), norm: 0, scale: 1 };
      from = part.to;
      return part;
    });
  }
}

/** A part of a push as the gate judges it: a range of the store's tensors, whose worker it is, its range's bound, its norm and clip factor. */
interface GatedPart extends JudgedPart {
  bound: NormBound;
  norm: number;
  scale: number;
}

/** A replica step's refusal names the stage whose part it was. */
function blamed(failure: Failure, split: boolean, stage: number): Failure & { stage?: number } {
  return split ? { ...failure, stage } : failure;
}

/** Multiplies every value of tensors [from, to) by `scale`, in place (only on a clip: the hot path never scales). */
function scaleInPlace(views: readonly Float32Array[], from: number, to: number, scale: number): void {
  for (let k = from; k < to; k++) {
    const v = views[k]!;
    for (let i = 0; i < v.length; i++) v[i]! *= scale;
  }
}
