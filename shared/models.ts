/**
 * Model presets as tfjs Layers definitions. Layers carry explicit names so that
 * weight names (`conv1/kernel`) are stable across processes: the parameter server
 * and every worker address tensors by these names.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelPresetName } from './job-spec.js';
import type { TensorSpec } from './tensors.js';

export interface ModelPreset {
  description: string;
  build(inputShape: number[], numClasses: number, seed: number): tf.LayersModel;
}

const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });

export const MODEL_PRESETS: Record<ModelPresetName, ModelPreset> = {
  mlp: {
    description: 'Multi-layer perceptron: inputs-128-classes (ReLU, softmax); 784-128-10 on MNIST',
    build(inputShape, numClasses, seed) {
      // Flatten needs rank ≥ 2 examples; tabular rows are already flat.
      const input = inputShape.length > 1 ? [tf.layers.flatten({ name: 'flatten', inputShape })] : [];
      return tf.sequential({
        name: 'mlp',
        layers: [
          ...input,
          tf.layers.dense({ name: 'dense1', units: 128, activation: 'relu', kernelInitializer: glorot(seed), ...(input.length ? {} : { inputShape }) }),
          tf.layers.dense({ name: 'output', units: numClasses, activation: 'softmax', kernelInitializer: glorot(seed + 1) }),
        ],
      });
    },
  },
  cnn: {
    description: 'Small CNN: conv5x5(8)-maxpool-conv5x5(16)-maxpool-dense(10)',
    build(inputShape, numClasses, seed) {
      return tf.sequential({
        name: 'cnn',
        layers: [
          tf.layers.conv2d({
            name: 'conv1', inputShape, kernelSize: 5, filters: 8, activation: 'relu', kernelInitializer: glorot(seed),
          }),
          tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }),
          tf.layers.conv2d({ name: 'conv2', kernelSize: 5, filters: 16, activation: 'relu', kernelInitializer: glorot(seed + 1) }),
          tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }),
          tf.layers.flatten({ name: 'flatten' }),
          tf.layers.dense({ name: 'output', units: numClasses, activation: 'softmax', kernelInitializer: glorot(seed + 2) }),
        ],
      });
    },
  },
};

/** Trainable tensors of a built model, named by their layer-scoped original names. */
export function tensorSpecsOf(model: tf.LayersModel): TensorSpec[] {
  return model.trainableWeights.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
}

/** Builds a model from the topology JSON the coordinator hands out. */
export async function modelFromTopology(topology: object): Promise<tf.LayersModel> {
  return tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON);
}
