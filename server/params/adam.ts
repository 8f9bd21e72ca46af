import type { OptimizerFactory } from './optimizer.js';

/**
 * tf.train.adam: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
 */
export const createAdam: OptimizerFactory = (spec) => ({
  type: 'adam',
  slotNames: ['m', 'v'],
  createSlots: (size) => [new Float32Array(size), new Float32Array(size)],
  apply(param, grad, slots, step, lrScale) {
    const { beta1, beta2, epsilon } = spec;
    const lr = spec.learningRate * lrScale;
    const c1 = 1 - Math.pow(beta1, step);
    const c2 = 1 - Math.pow(beta2, step);
    const m = slots[0]!;
    const v = slots[1]!;
    for (let i = 0; i < param.length; i++) {
      const g = grad[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = param[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + epsilon);
    }
  },
});
