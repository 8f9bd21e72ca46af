import type { OptimizerFactory } from './optimizer.js';

/**
 * tf.train.momentum: a ← m·a + g, then p ← p − lr·a, or with Nesterov's look-ahead
 * (useNesterov) p ← p − lr·(g + m·a). Nesterov is DiLoCo's outer optimizer (local mode).
 */
export const createMomentum: OptimizerFactory = (spec) => ({
  type: 'momentum',
  slotNames: ['momentum'],
  sparseUpdates: false,
  createSlots: (size, alloc) => [alloc(size)],
  kernelStep: (_step, lrScale) => ({
    kernel: spec.nesterov ? 'nesterov' : 'momentum',
    constants: [spec.learningRate * lrScale, spec.momentum, 0, 0, 0, 0],
  }),
  apply(param, grad, slots, _step, lrScale) {
    const lr = spec.learningRate * lrScale;
    const m = spec.momentum;
    const acc = slots[0]!;
    if (spec.nesterov) {
      for (let i = 0; i < param.length; i++) {
        const g = grad[i]!;
        const a = m * acc[i]! + g;
        acc[i] = a;
        param[i] = param[i]! - lr * (g + m * a);
      }
      return;
    }
    for (let i = 0; i < param.length; i++) {
      const a = m * acc[i]! + grad[i]!;
      acc[i] = a;
      param[i] = param[i]! - lr * a;
    }
  },
});
