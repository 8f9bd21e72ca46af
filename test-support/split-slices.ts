/** One ps task's slices of a small model split in 2 stages, for the task-level tests of stage parts, rounds and bounds. */
import type { TensorSpec } from '../shared/tensors.js';

/** Stage 0's bias and stage 1's output layer (19 values). */
export const SPLIT_SLICES: TensorSpec[] = [
  { name: 'dense1/bias', shape: [4] },
  { name: 'output/kernel', shape: [4, 3] },
  { name: 'output/bias', shape: [3] },
];
export const STAGE0_SLICES = ['dense1/bias'];
export const STAGE1_SLICES = ['output/kernel', 'output/bias'];
