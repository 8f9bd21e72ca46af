/**
 * Optimizers applied by the parameter server on Float32Arrays, matching tfjs's
 * own optimizers (tfjs-core/src/optimizers) step for step. State lives in per-tensor
 * slot arrays so that tensors can be spread over several PS shards later.
 */
import type { OptimizerSpec, OptimizerType } from '../../shared/job-spec.js';
import type { KernelStep } from './kernels/kernel-module.js';

export interface Optimizer {
  readonly type: OptimizerType;
  /** Names of the per-tensor state arrays (for checkpoints), each as long as the tensor. */
  readonly slotNames: readonly string[];
  /**
   * True when an entry whose gradient is zero is left bit-for-bit unchanged (SGD,
   * Adagrad): sparse gradients then make sparse updates, which delta pulls exploit.
   */
  readonly sparseUpdates: boolean;
  /** Fresh state for one tensor of `size` elements, in arrays from `alloc` (zeroed). */
  createSlots(size: number, alloc: (size: number) => Float32Array): Float32Array[];
  /**
   * One update of `param` in place. `step` counts applies from 1 (Adam's bias
   * correction); `lrScale` multiplies the learning rate (staleness-aware modes).
   * Must not allocate: it runs once per tensor per accepted push.
   */
  apply(param: Float32Array, grad: Float32Array, slots: Float32Array[], step: number, lrScale: number): void;
  /** The same update as a call of the SIMD kernels (kernels/ps-kernels.wat): slots are passed in slotNames order. */
  kernelStep(step: number, lrScale: number): KernelStep;
}

export type OptimizerFactory = (spec: OptimizerSpec) => Optimizer;
