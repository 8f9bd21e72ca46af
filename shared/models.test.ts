/**
 * Each preset's parameter count, worked out without building it (what job creation
 * checks against the parameter server's capacity), against tfjs as the oracle.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { MODEL_PRESET_NAMES } from './job-spec.js';
import { MODEL_PRESETS, tensorSpecsOf } from './models.js';
import { totalSize } from './tensors.js';

/** MNIST, iris, a colour image, odd strips, images too small for the cnn (tfjs builds some with empty layers), rank 2. */
const INPUTS: [number[], number][] = [
  [[28, 28, 1], 10],
  [[4], 3],
  [[32, 32, 3], 10],
  [[13, 40, 2], 7],
  [[12, 12, 1], 2],
  [[11, 30, 1], 2],
  [[14, 14, 1], 3],
  [[9, 9, 1], 3],
  [[4, 20, 1], 3],
  [[3, 30, 1], 3],
  [[6, 5], 4],
];

describe('preset sizes', () => {
  afterAll(() => tf.disposeVariables());

  for (const name of MODEL_PRESET_NAMES) {
    it(`${name}: counted as tfjs builds it, or null where tfjs cannot`, () => {
      for (const [shape, classes] of INPUTS) {
        // mlp-large on a colour image is 10M parameters: the count alone is checked (below), not worth allocating here.
        if (name === 'mlp-large' && shape.reduce((a, b) => a * b, 1) > 1000) continue;
        const counted = MODEL_PRESETS[name].parameters(shape, classes);
        let built: number | null;
        try {
          const model = MODEL_PRESETS[name].build(shape, classes, 1);
          built = totalSize(tensorSpecsOf(model));
          model.dispose();
        } catch {
          built = null;
        }
        expect(counted, `${name} on [${shape}] → ${classes}`).toBe(built);
      }
    });
  }

  it('mlp-large is 784-2048-2048-10 on MNIST: 5.8M parameters, more than one 4M task', () => {
    const model = MODEL_PRESETS['mlp-large'].build([28, 28, 1], 10, 1);
    try {
      expect(tensorSpecsOf(model)).toEqual([
        { name: 'dense1/kernel', shape: [784, 2048] },
        { name: 'dense1/bias', shape: [2048] },
        { name: 'dense2/kernel', shape: [2048, 2048] },
        { name: 'dense2/bias', shape: [2048] },
        { name: 'output/kernel', shape: [2048, 10] },
        { name: 'output/bias', shape: [10] },
      ]);
      expect(model.countParams()).toBe(5_824_522);
    } finally {
      model.dispose();
    }
    expect(MODEL_PRESETS['mlp-large'].parameters([32, 32, 3], 10)).toBe(3072 * 2048 + 2048 + 2048 * 2048 + 2048 + 2048 * 10 + 10);
  });
});
