import { describe, expect, it } from 'vitest';
import { DatasetRegistry } from '../data/datasets.js';
import { featureLength, featuresAsFloat } from '../data/dataset.js';
import { drawRootSet } from './root-set.js';

const mnist = new DatasetRegistry(null).get('mnist');
const iris = new DatasetRegistry(null).get('iris');

/** Each example's features as a number (a position-weighted sum), to find it in the training split. */
function rowsOf(features: Float32Array, len: number): number[] {
  return Array.from({ length: features.length / len }, (_, i) => {
    let key = 0;
    for (let j = 0; j < len; j++) key += (j + 1) * features[i * len + j]!;
    return key;
  });
}

describe('drawRootSet', () => {
  it('draws distinct training examples with their own labels, the same ones for the same seed', () => {
    const len = featureLength(mnist);
    const a = drawRootSet(mnist, 1024, 1);
    expect(a.labels).toHaveLength(1024);
    expect(a.features).toHaveLength(1024 * len);
    expect({ featureShape: a.featureShape, numClasses: a.numClasses }).toEqual({ featureShape: mnist.featureShape, numClasses: 10 });
    const train = rowsOf(featuresAsFloat(mnist, mnist.train), len);
    const labelOf = new Map(train.map((row, i) => [row, mnist.train.labels[i]!]));
    const rows = rowsOf(a.features, len);
    expect(rows.filter((row, k) => labelOf.get(row) !== a.labels[k])).toEqual([]);
    expect(new Set(rows).size).toBe(1024);
    // Every class, roughly in proportion (about 102 each).
    const counts = Array.from({ length: 10 }, (_, c) => a.labels.filter((l) => l === c).length);
    for (const n of counts) expect(n).toBeGreaterThan(60);
    // Byte for byte (a deep toEqual over 800,000 floats took most of a minute on a loaded machine).
    const again = drawRootSet(mnist, 1024, 1);
    expect(Buffer.from(again.features.buffer).equals(Buffer.from(a.features.buffer))).toBe(true);
    expect(Buffer.from(again.labels).equals(Buffer.from(a.labels))).toBe(true);
    expect(drawRootSet(mnist, 1024, 2).labels).not.toEqual(a.labels);
  });

  it('takes the whole split when it is smaller than the size asked', () => {
    const r = drawRootSet(iris, 1024, 1);
    expect(r.labels).toHaveLength(iris.train.count);
  });
});
