/**
 * Whether each stage's part may join its replica's step (server/jobs/replica-steps.ts):
 * the batches it claims against stage 0's, its base version against the job's, its
 * layout against its stage's tensors. Each refusal names the first stage at fault; the
 * values are checked by the job's gate on the joined push.
 */
import { asBytes, type TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { IncomingPush } from './job-training.js';
import type { Replica } from './replica-board.js';

/** A stage's part refused, and which stage's. */
export interface StageRefusal {
  stage: number;
  failure: Failure;
}

export interface StagePartChecksOptions {
  /** The job's tensors, in its order. */
  tensors: readonly TensorSpec[];
  codec: TensorCodec;
  /** Largest payload the job accepts (its gate's cap). */
  maxBytes: number;
  /** The stage's tensor names (its ReplicaAssignment's). */
  stageTensors: (replica: Replica, stage: number) => readonly string[];
  /** The job's parameter version now. */
  version: () => number;
}

export class StagePartChecks {
  private readonly specsByName: Map<string, TensorSpec>;

  constructor(private readonly o: StagePartChecksOptions) {
    this.specsByName = new Map(o.tensors.map((t) => [t.name, t]));
  }

  /**
   * The first stage part that claims other batches than stage 0's. Stage 0's claim is
   * checked against its lease when the step commits, so a part that differs is named as its
   * stage's (every stage is charged for it: stage 0's frames give a later stage its count;
   * replica-steps.ts, FRAME_BORNE_LATER).
   */
  batchRefusal(replica: Replica, parts: readonly IncomingPush[]): StageRefusal | null {
    const first = parts[0]!;
    for (let stage = 0; stage < parts.length; stage++) {
      const part = parts[stage]!;
      // Stage 0 holds the lease; a later stage never sees it and names its replica instead.
      if ((stage > 0 && part.leaseId !== replica.id) || part.batches !== first.batches) {
        return { stage, failure: fail(ErrorCode.BATCH_CLAIM, `Stage ${stage} of replica ${replica.id} pushed for ${part.leaseId} × ${part.batches} batches; stage 0 pushed lease ${first.leaseId} × ${first.batches} (a later stage names its replica, ${replica.id})`) };
      }
    }
    return null;
  }

  /** The first stage part computed on a version the job has not reached: the step's staleness counts from the oldest part, which would hide it. */
  futureRefusal(replica: Replica, parts: readonly IncomingPush[]): StageRefusal | null {
    const version = this.o.version();
    const stage = parts.findIndex((p) => p.baseVersion > version);
    if (stage < 0) return null;
    return { stage, failure: fail(ErrorCode.FUTURE_VERSION, `Stage ${stage} of replica ${replica.id}: base version ${parts[stage]!.baseVersion} is ahead of the server's ${version}`) };
  }

  /** The first stage part that does not hold exactly its stage's tensors. */
  layoutsRefusal(replica: Replica, parts: readonly IncomingPush[]): StageRefusal | null {
    for (let stage = 0; stage < parts.length; stage++) {
      const bad = this.layoutRefusal(this.o.stageTensors(replica, stage), parts[stage]!);
      if (bad) return { stage, failure: { ...bad, message: `Stage ${stage} of replica ${replica.id}: ${bad.message}` } };
    }
    return null;
  }

  /**
   * The part's layout against its stage's tensors: names in order, shapes, dtype, each
   * entry's bytes right after the last's, nothing over. The encoding and the values are
   * checked by the job's gate on the joined push, without copying them here.
   */
  private layoutRefusal(names: readonly string[], part: IncomingPush): Failure | null {
    const entries = part.manifest.tensors;
    if (part.manifest.codec !== this.o.codec.id) return fail(ErrorCode.UNKNOWN_CODEC, `Codec "${part.manifest.codec}" is not this job's codec "${this.o.codec.id}"`);
    if (entries.length !== names.length || entries.some((e, i) => e.name !== names[i])) {
      return fail(ErrorCode.TENSOR_MISMATCH, `The push carries [${entries.map((e) => e.name).join(', ').slice(0, 200)}]; the stage's tensors are [${names.join(', ')}]`);
    }
    let at = 0;
    for (const e of entries) {
      const spec = this.specsByName.get(e.name)!;
      if (!sameShape(e.shape, spec.shape)) return fail(ErrorCode.SHAPE_MISMATCH, `Tensor "${e.name}" has shape [${e.shape}], expected [${spec.shape}]`);
      if (e.dtype !== 'float32') return fail(ErrorCode.DTYPE_MISMATCH, `Tensor "${e.name}" has dtype ${e.dtype}, expected float32`);
      const want = this.o.codec.byteLength(sizeOf(spec.shape));
      if (e.offset !== at || e.byteLength !== want) return fail(ErrorCode.BYTE_LENGTH_MISMATCH, `Tensor "${e.name}" is ${e.byteLength} bytes at ${e.offset}, expected ${want} at ${at}`);
      at += want;
    }
    const bytes = asBytes(part.data).byteLength;
    if (bytes > this.o.maxBytes) return fail(ErrorCode.PAYLOAD_TOO_LARGE, `Payload of ${bytes} bytes exceeds the job's cap of ${this.o.maxBytes}`);
    return bytes === at ? null : fail(ErrorCode.BYTE_LENGTH_MISMATCH, `Buffer is ${bytes} bytes, the manifest describes ${at}`);
  }
}
