/**
 * Accuracy and cross-entropy of a model on a labelled split, in chunks: one huge
 * predict() is an order of magnitude slower on wasm, and argmax in JS is cheaper than
 * a tfjs kernel launch per chunk.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../tf-node.js';

export const EVAL_CHUNK = 500;
const LOG_EPS = 1e-7;

export interface Score {
  accuracy: number;
  loss: number;
  examples: number;
}

export function scoreModel(
  model: tfTypes.LayersModel,
  features: Float32Array,
  labels: Uint8Array,
  featureShape: number[],
  numClasses: number,
): Score {
  const count = labels.length;
  const per = featureShape.reduce((a, b) => a * b, 1);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < count; start += EVAL_CHUNK) {
    const n = Math.min(EVAL_CHUNK, count - start);
    const probs = tf.tidy(() => {
      const x = tf.tensor(features.subarray(start * per, (start + n) * per), [n, ...featureShape]);
      return (model.predict(x) as tfTypes.Tensor).dataSync();
    });
    for (let i = 0; i < n; i++) {
      const row = i * numClasses;
      let best = 0;
      for (let c = 1; c < numClasses; c++) if (probs[row + c]! > probs[row + best]!) best = c;
      const label = labels[start + i]!;
      if (best === label) correct++;
      lossSum -= Math.log(Math.max(probs[row + label]!, LOG_EPS));
    }
  }
  return { accuracy: correct / count, loss: lossSum / count, examples: count };
}
