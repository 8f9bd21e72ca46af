/**
 * Local mode's outer optimizer (DiLoCo, Douillard et al. 2023): the averaged parameter
 * delta of a round (start − end of each worker's local steps) is treated as a gradient
 * and applied with Nesterov momentum SGD, outerLearningRate and outerMomentum.
 */
import { optimizerSpecSchema, type JobSpec, type OptimizerSpec } from '../../shared/job-spec.js';

export function outerOptimizerSpec(spec: JobSpec): OptimizerSpec {
  return optimizerSpecSchema.parse({ type: 'momentum', learningRate: spec.outerLearningRate, momentum: spec.outerMomentum, nesterov: true });
}
