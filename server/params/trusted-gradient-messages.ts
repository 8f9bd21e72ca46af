/** Messages between the coordinator and its trusted-gradient thread (trusted-gradient-worker.ts). */
import type { TensorSpec } from '../../shared/tensors.js';
import type { TensorPiece } from './reference-norms.js';
import type { RootSet } from './root-set.js';

export type TrustedGradientMessage =
  /**
   * Take the gradient of the loss over the root set at `values` (the parameters of one
   * version): it becomes the root's trusted gradient, replacing the one before, and the
   * gradients witnessed against `snapshot` are judged by it.
   */
  | {
      type: 'trust';
      /** Names the root set (and the model built for it) the thread caches: the job's id. */
      rootKey: string;
      snapshot: number;
      topology: object;
      tensors: TensorSpec[];
      /** Present when the thread has not been sent this root set yet. */
      rootSet?: RootSet;
      values: Float32Array[];
      /** The job's mini-batch size: the root set is taken in batches of this size, as workers take theirs. */
      batchSize: number;
      /** Sums of squares per these pieces (a job's ps task slices) rather than per tensor. */
      pieces?: TensorPiece[];
    }
  /**
   * A pushed gradient (all tensors, flat) to compare with the trusted gradient of
   * `snapshot`, range by range (`ranges`: [from, to) element offsets; the whole
   * gradient for a data-parallel push, each stage's part for a replica step).
   */
  | { type: 'witness'; rootKey: string; snapshot: number; witness: number; gradient: Float32Array; ranges: [number, number][] }
  /** The job is gone: the thread drops its root set, model and trusted gradient. */
  | { type: 'forget'; rootKey: string };

export type TrustedGradientReply =
  /**
   * `batchNorm`: the median over the root set's mini-batches of each one's mean-gradient
   * norm (what a push's norm per batch is); `batchSquares`: those mini-batches' sums of
   * squares per tensor, or per piece when the request named pieces (a ReferenceNorms' rows).
   */
  | { type: 'trusted'; rootKey: string; snapshot: number; ok: true; loss: number; batchNorm: number; batchSquares: number[][]; ms: number }
  | { type: 'trusted'; rootKey: string; snapshot: number; ok: false; message: string }
  /**
   * Each range's cosine with the same range of the snapshot's trusted gradient; null
   * when there is none to compare with (superseded, failed, zero). The buffer comes back for reuse.
   */
  | { type: 'witnessed'; rootKey: string; witness: number; cosines: (number | null)[]; gradient: Float32Array };
