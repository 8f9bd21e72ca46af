/** One read of a flat tensor back into per-tensor views: a single sync point on a GPU, however many tensors. */
import type * as tf from '@tensorflow/tfjs';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';

/**
 * Downloads `flat` (disposing it) and cuts it into one view per spec, in order; what
 * follows the last spec (e.g. a loss appended to the gradients) is `tail`.
 */
export async function readFlat(flat: tf.Tensor, specs: readonly Pick<TensorSpec, 'shape'>[]): Promise<{ parts: Float32Array[]; tail: Float32Array }> {
  let values: Float32Array;
  try {
    values = (await flat.data()) as Float32Array;
  } finally {
    flat.dispose();
  }
  const parts: Float32Array[] = [];
  let at = 0;
  for (const s of specs) {
    const n = sizeOf(s.shape);
    parts.push(values.subarray(at, at + n));
    at += n;
  }
  return { parts, tail: values.subarray(at) };
}
