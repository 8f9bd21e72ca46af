/** Messages between the coordinator and its evaluation thread. */
import type { TensorSpec } from '../../shared/tensors.js';

/** A dataset's test split, sent to the thread once and cached there under its key. */
export interface TestSet {
  features: Float32Array;
  labels: Uint8Array;
  featureShape: number[];
  numClasses: number;
}

export interface EvalRequest {
  id: number;
  topology: object;
  datasetKey: string;
  /** Present when the thread has not been sent this dataset yet. */
  testSet?: TestSet;
  tensors: TensorSpec[];
  values: Float32Array[];
}

export type EvalReply =
  | { id: number; ok: true; accuracy: number; loss: number; examples: number; confusion: number[][]; ms: number }
  | { id: number; ok: false; message: string };
