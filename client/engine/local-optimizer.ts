/** Local mode's inner optimizer: the job's optimizer spec, built on tfjs on the worker. */
import * as tf from '@tensorflow/tfjs';
import type { OptimizerSpec } from '../../shared/job-spec.js';

export function tfjsOptimizer(spec: OptimizerSpec): tf.Optimizer {
  switch (spec.type) {
    case 'sgd':
      return tf.train.sgd(spec.learningRate);
    case 'momentum':
      return tf.train.momentum(spec.learningRate, spec.momentum, spec.nesterov);
    case 'adagrad':
      return tf.train.adagrad(spec.learningRate, spec.initialAccumulatorValue);
    case 'adam':
      return tf.train.adam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon);
    default: {
      const check: never = spec.type;
      throw new Error(`Unknown optimizer ${String(check)}`);
    }
  }
}
