import type { OptimizerFactory } from './optimizer.js';

/** tf.train.sgd: p ← p − lr·g */
export const createSgd: OptimizerFactory = (spec) => ({
  type: 'sgd',
  slotNames: [],
  createSlots: () => [],
  apply(param, grad, _slots, _step, lrScale) {
    const lr = spec.learningRate * lrScale;
    for (let i = 0; i < param.length; i++) param[i] = param[i]! - lr * grad[i]!;
  },
});
