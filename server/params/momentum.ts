import type { OptimizerFactory } from './optimizer.js';

/** tf.train.momentum (not Nesterov): a ← m·a + g; p ← p − lr·a */
export const createMomentum: OptimizerFactory = (spec) => ({
  type: 'momentum',
  slotNames: ['momentum'],
  createSlots: (size) => [new Float32Array(size)],
  apply(param, grad, slots, _step, lrScale) {
    const lr = spec.learningRate * lrScale;
    const m = spec.momentum;
    const acc = slots[0]!;
    for (let i = 0; i < param.length; i++) {
      const a = m * acc[i]! + grad[i]!;
      acc[i] = a;
      param[i] = param[i]! - lr * a;
    }
  },
});
