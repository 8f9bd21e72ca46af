/**
 * The trusted root set (FLTrust, Cao et al. 2021): a few hundred training examples the
 * parameter server holds itself, on which it computes the gradient it trusts. Drawn
 * from the training split (never the test split, which must stay unseen), uniformly
 * at random for the job's seed so that every class appears in proportion and the same
 * job gets the same set after a restart. Workers train on these examples too: the set
 * is trusted because the PS reads it from its own copy of the data, not because it is
 * held out.
 */
import { seededRandom } from '../../shared/seeded-random.js';
import { featureLength, featuresAsFloat, type Dataset } from '../data/dataset.js';

/** Examples in model-input form, with what the thread needs to build the model's loss. */
export interface RootSet {
  features: Float32Array;
  labels: Uint8Array;
  featureShape: number[];
  numClasses: number;
}

/** `size` distinct training examples (all of them if the split is smaller), chosen by `seed`. */
export function drawRootSet(ds: Dataset, size: number, seed: number): RootSet {
  const total = ds.train.count;
  const n = Math.min(size, total);
  // A partial Fisher-Yates shuffle of the indices: the first n are the sample.
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const rand = seededRandom(seed * 2246822519 + 7);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (total - i));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const len = featureLength(ds);
  const picked = order.subarray(0, n).sort();
  const features = ds.train.features instanceof Float32Array ? new Float32Array(n * len) : new Uint8Array(n * len);
  const labels = new Uint8Array(n);
  picked.forEach((index, k) => {
    features.set(ds.train.features.subarray(index * len, (index + 1) * len), k * len);
    labels[k] = ds.train.labels[index]!;
  });
  return { features: featuresAsFloat(ds, { count: n, features, labels }), labels, featureShape: [...ds.featureShape], numClasses: ds.numClasses };
}
