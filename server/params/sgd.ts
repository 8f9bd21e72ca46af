import type { OptimizerFactory } from './optimizer.js';

/** tf.train.sgd: p ← p − lr·g */
export const createSgd: OptimizerFactory = (spec) => ({
  type: 'sgd',
  slotNames: [],
  sparseUpdates: true,
  createSlots: () => [],
  kernelStep: (_step, lrScale) => ({ kernel: 'sgd', constants: [spec.learningRate * lrScale, 0, 0, 0, 0, 0] }),
  apply(param, grad, _slots, _step, lrScale) {
    const lr = spec.learningRate * lrScale;
    const n = param.length;
    // Unrolled by 4: V8 does not vectorise, and fewer loop checks measured ~30 % faster (bench ps-apply).
    const n4 = n - (n % 4);
    let i = 0;
    for (; i < n4; i += 4) {
      param[i] -= lr * grad[i]!;
      param[i + 1] -= lr * grad[i + 1]!;
      param[i + 2] -= lr * grad[i + 2]!;
      param[i + 3] -= lr * grad[i + 3]!;
    }
    for (; i < n; i++) param[i] -= lr * grad[i]!;
  },
});
