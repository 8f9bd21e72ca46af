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
  /**
   * Its trainable parameters on this input, counted without building it (a model over
   * the parameter server's capacity is refused before tfjs allocates it); null when it
   * cannot be built on this input (build says why).
   */
  parameters(inputShape: readonly number[], numClasses: number): number | null;
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
/** Parameters of dense layers of these widths: each has a kernel and a bias. */
const denseParameters = (widths: readonly number[]) => widths.slice(1).reduce((n, w, i) => n + widths[i]! * w + w, 0);
/** A valid-padding convolution or pooling window along one axis. */
const valid = (size: number, window: number, stride = 1) => Math.floor((size - window) / stride) + 1;

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
    parameters: (inputShape, numClasses) => denseParameters([product(inputShape), 128, numClasses]),
  },
  'mlp-large': {
    description: 'Large multi-layer perceptron: inputs-2048-2048-classes (ReLU, softmax); 784-2048-2048-10 on MNIST, 5.8M parameters: needs 2 ps tasks',
    build(inputShape, numClasses, seed) {
      const input = inputShape.length > 1 ? [tf.layers.flatten({ name: 'flatten', inputShape })] : [];
      return tf.sequential({
        name: 'mlp-large',
        layers: [
          ...input,
          tf.layers.dense({ name: 'dense1', units: 2048, activation: 'relu', kernelInitializer: glorot(seed), ...(input.length ? {} : { inputShape }) }),
          tf.layers.dense({ name: 'dense2', units: 2048, activation: 'relu', kernelInitializer: glorot(seed + 1) }),
          tf.layers.dense({ name: 'output', units: numClasses, activation: 'softmax', kernelInitializer: glorot(seed + 2) }),
        ],
      });
    },
    parameters: (inputShape, numClasses) => denseParameters([product(inputShape), 2048, 2048, numClasses]),
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
    parameters(inputShape, numClasses) {
      if (inputShape.length !== 3) return null;
      const [h, w, channels] = inputShape as [number, number, number];
      // conv 5x5 → pool 2/2 → conv 5x5 → pool 2/2, all valid padding. As tfjs: a
      // convolution with a negative output size cannot be built, empty outputs can.
      const side = (n: number): number | null => {
        const conv1 = valid(n, 5);
        const conv2 = conv1 < 0 ? -1 : valid(valid(conv1, 2, 2), 5);
        return conv2 < 0 ? null : valid(conv2, 2, 2);
      };
      const [sh, sw] = [side(h), side(w)];
      if (sh === null || sw === null) return null;
      return 5 * 5 * channels * 8 + 8 + (5 * 5 * 8 * 16 + 16) + denseParameters([sh * sw * 16, numClasses]);
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
