import type { OptimizerSpec, OptimizerType } from '../../shared/job-spec.js';
import { createAdagrad } from './adagrad.js';
import { createAdam } from './adam.js';
import { createMomentum } from './momentum.js';
import type { Optimizer, OptimizerFactory } from './optimizer.js';
import { createSgd } from './sgd.js';

const FACTORIES: Record<OptimizerType, OptimizerFactory> = {
  sgd: createSgd,
  momentum: createMomentum,
  adagrad: createAdagrad,
  adam: createAdam,
};

export function createOptimizer(spec: OptimizerSpec): Optimizer {
  return FACTORIES[spec.type](spec);
}
