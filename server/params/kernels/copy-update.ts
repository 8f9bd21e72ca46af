/**
 * dst ← src, run by an apply engine as it runs an optimizer: the JavaScript engine by
 * Float32Array.prototype.set (memmove), the kernels by the copy kernel, split over the
 * apply pool like any apply. Nothing trains with it: it is the baseline of bench
 * ps-apply, which copies each tensor's gradient (source) into its values (destination),
 * the same bytes through the same machinery and threads as an optimizer's apply.
 */
import type { ApplyUpdate } from '../apply-engine.js';
import type { KernelStep } from './kernel-module.js';

const STEP: KernelStep = { kernel: 'copy', constants: [0, 0, 0, 0, 0, 0] };

export const COPY_UPDATE: ApplyUpdate = {
  apply: (param, grad) => param.set(grad),
  kernelStep: () => STEP,
};
