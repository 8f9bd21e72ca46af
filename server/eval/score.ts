/**
 * Accuracy, cross-entropy and the confusion matrix of a model on a labelled split, in chunks: one huge
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
  /** confusion[t][p]: test examples of class t the model predicted as p. */
  confusion: number[][];
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
  // Counted here, in the evaluation thread, beside the argmax that accuracy needs anyway.
  const counts = new Uint32Array(numClasses * numClasses);
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
      counts[label * numClasses + best] += 1;
      lossSum -= Math.log(Math.max(probs[row + label]!, LOG_EPS));
    }
  }
  const confusion = Array.from({ length: numClasses }, (_, t) => Array.from(counts.subarray(t * numClasses, (t + 1) * numClasses)));
  return { accuracy: correct / count, loss: lossSum / count, examples: count, confusion };
}
