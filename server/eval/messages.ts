/** Messages between the coordinator and its evaluation thread. */
import type { DatasetName } from '../../shared/job-spec.js';
import type { TensorSpec } from '../../shared/tensors.js';

export interface EvalRequest {
  id: number;
  topology: object;
  dataset: DatasetName;
  tensors: TensorSpec[];
  values: Float32Array[];
}

export type EvalReply =
  | { id: number; ok: true; accuracy: number; loss: number; examples: number; ms: number }
  | { id: number; ok: false; message: string };
