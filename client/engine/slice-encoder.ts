/**
 * A gradient's slices in the job's codec, one payload per ps task, with error feedback
 * kept per slice. The exchange hands a job on ps tasks its gradient in fp32 (lossless:
 * createExchange), and the transport encodes here, after the placement has split it:
 * a codec's choices (topk's k entries, int8's 256-value blocks) are then made per slice,
 * exactly as the task that decodes the slice sees them, and what a slice's encoding did
 * not carry stays in that slice's residual for the next push to that task.
 *
 * Per element (fp32, fp16) this is the whole-tensor encoding cut in pieces. For a
 * tensor the placement keeps whole it is the whole-tensor encoding. For a partitioned
 * tensor int8 matches only when the partition starts on a 256-value block boundary,
 * and topk picks ceil(ratio · n) entries per partition rather than per tensor (and
 * topk-packed sizes its index field by the partition): docs/cluster.md.
 */
import { codecOf, type TensorPayload } from '../../shared/codec.js';
import type { Placement } from '../../shared/placement.js';
import type { CodecId } from '../../shared/codec.js';
import { GradientAccumulator } from './gradient-accumulator.js';

export class SliceEncoder {
  /** One accumulator per task holding slices (null for a task the placement left empty): its residual is the error feedback. */
  private readonly perTask: (GradientAccumulator | null)[];

  constructor(placement: Placement, job: { codec: CodecId; topkRatio: number }) {
    const codec = codecOf(job);
    this.perTask = placement.byTask.map((_, t) => {
      const specs = placement.specsOf(t);
      return specs.length ? new GradientAccumulator(specs, codec) : null;
    });
  }

  /**
   * Task `t`'s payload for its slices of one gradient (`slices[t]`, as
   * Placement.splitTensors gives them): this gradient plus what earlier pushes to the
   * task did not carry, encoded; what this encoding does not carry is kept.
   */
  encode(task: number, slices: readonly Float32Array[]): TensorPayload {
    const acc = this.perTask[task];
    if (!acc) throw new Error(`ps task ${task} holds no slices of this job`);
    acc.add(slices, 0, 0);
    return acc.take();
  }

  /** Task `t`'s residual per slice (what the next push to it adds; zeros for a lossless codec). */
  residual(task: number): readonly Float32Array[] {
    return this.perTask[task]?.residual() ?? [];
  }
}
