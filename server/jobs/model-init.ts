/**
 * A job's model as the PS holds it: the Layers topology workers rebuild, the tensor
 * specs pushes are checked against, and initial values drawn by tfjs's own
 * initializers (Glorot-uniform kernels, zero biases), seeded by the job.
 */
import type { ModelPresetName } from '../../shared/job-spec.js';
import { MODEL_PRESETS, tensorSpecsOf } from '../../shared/models.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { initNodeTf, tf } from '../tf-node.js';

export interface InitialModel {
  topology: object;
  tensors: TensorSpec[];
  values: Float32Array[];
}

export async function buildInitialModel(
  preset: ModelPresetName,
  featureShape: number[],
  numClasses: number,
  seed: number,
): Promise<InitialModel> {
  await initNodeTf();
  const model = MODEL_PRESETS[preset].build(featureShape, numClasses, seed);
  try {
    const topology = model.toJSON(undefined, false) as object;
    const tensors = tensorSpecsOf(model);
    const values = model.trainableWeights.map((w) => w.read().dataSync() as Float32Array).map((v) => Float32Array.from(v));
    return { topology, tensors, values };
  } finally {
    model.dispose();
  }
}

export { tf };
