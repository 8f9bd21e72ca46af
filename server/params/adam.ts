import type { OptimizerFactory } from './optimizer.js';

/**
 * tf.train.adam: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
 *
 * computed as Kingma & Ba's efficient form (end of their section 2): the bias
 * corrections go into a step size lr·√(1−β2ᵗ)/(1−β1ᵗ) and an ε·√(1−β2ᵗ) per apply, so
 * each element costs one square root and one division; equal to tfjs within the
 * optimizer tests' 1e-6.
 */
export const createAdam: OptimizerFactory = (spec) => {
  /** [step size, ε̂] of apply number `step`. */
  const corrected = (step: number, lrScale: number): [number, number] => {
    const c2 = Math.sqrt(1 - Math.pow(spec.beta2, step));
    return [(spec.learningRate * lrScale * c2) / (1 - Math.pow(spec.beta1, step)), spec.epsilon * c2];
  };
  return {
    type: 'adam',
    slotNames: ['m', 'v'],
    sparseUpdates: false,
    createSlots: (size, alloc) => [alloc(size), alloc(size)],
    kernelStep(step, lrScale) {
      const [stepSize, epsHat] = corrected(step, lrScale);
      return { kernel: 'adam', constants: [stepSize, epsHat, spec.beta1, spec.beta2, 1 - spec.beta1, 1 - spec.beta2] };
    },
    apply(param, grad, slots, step, lrScale) {
      const { beta1, beta2 } = spec;
      const [stepSize, epsHat] = corrected(step, lrScale);
      const oneMinusB1 = 1 - beta1;
      const oneMinusB2 = 1 - beta2;
      const m = slots[0]!;
      const v = slots[1]!;
      const n = param.length;
      for (let i = 0; i < n; i++) {
        const g = grad[i]!;
        const mi = beta1 * m[i]! + oneMinusB1 * g;
        const vi = beta2 * v[i]! + oneMinusB2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= (stepSize * mi) / (Math.sqrt(vi) + epsHat);
      }
    },
  };
};
