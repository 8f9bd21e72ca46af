import type { OptimizerFactory } from './optimizer.js';

/**
 * tf.train.adagrad, the Downpour default: per-parameter step sizes shrink with the
 * squared-gradient history, which is what keeps stale gradients from doing harm.
 * s ← s + g²; p ← p − lr·g / √(s + ε), with ε the backend epsilon (1e-7) as in tfjs.
 */
export const createAdagrad: OptimizerFactory = (spec) => ({
  type: 'adagrad',
  slotNames: ['accumulator'],
  sparseUpdates: true,
  createSlots: (size, alloc) => [alloc(size).fill(spec.initialAccumulatorValue)],
  kernelStep: (_step, lrScale) => ({ kernel: 'adagrad', constants: [spec.learningRate * lrScale, spec.epsilon, 0, 0, 0, 0] }),
  apply(param, grad, slots, _step, lrScale) {
    const lr = spec.learningRate * lrScale;
    const eps = spec.epsilon;
    const acc = slots[0]!;
    const n = param.length;
    // One square root and one division per element are the floor in scalar JS.
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      const s = acc[i]! + g * g;
      acc[i] = s;
      param[i] -= (lr * g) / Math.sqrt(s + eps);
    }
  },
});
