/**
 * One model replica on the current tfjs backend: loads parameters pulled from the PS
 * and computes the gradient of a mini-batch. Every tensor it creates is disposed, so
 * tf.memory().numTensors stays flat across steps.
 */
import { readFlat } from './flat-read.js';
import * as tf from '@tensorflow/tfjs';
import { modelFromTopology } from '../../shared/models.js';
import { sameShape, type TensorSpec } from '../../shared/tensors.js';

export interface Batch {
  /** n × featureLength values. */
  features: Float32Array;
  labels: Uint8Array;
  size: number;
}

export interface BatchGradient {
  /** One flat array per trainable tensor, in spec order. */
  grads: Float32Array[];
  loss: number;
}

export class ModelTrainer {
  private constructor(
    readonly model: tf.LayersModel,
    private readonly vars: tf.Variable[],
    readonly specs: TensorSpec[],
    private readonly featureShape: number[],
    private readonly numClasses: number,
  ) {}

  static async create(topology: object, specs: TensorSpec[], featureShape: number[], numClasses: number): Promise<ModelTrainer> {
    const model = await modelFromTopology(topology);
    const byName = new Map(model.trainableWeights.map((w) => [w.originalName, w]));
    const vars = specs.map((s) => {
      const w = byName.get(s.name);
      if (!w) throw new Error(`The job's tensor "${s.name}" is not in the model (has ${[...byName.keys()].join(', ')})`);
      if (!sameShape(w.shape as number[], s.shape)) throw new Error(`Tensor "${s.name}" is [${w.shape}] in the model, [${s.shape}] in the job`);
      return w.read() as tf.Variable;
    });
    if (vars.length !== model.trainableWeights.length) throw new Error('The job does not cover every trainable tensor of the model');
    return new ModelTrainer(model, vars, specs, featureShape, numClasses);
  }

  setParams(values: readonly Float32Array[]): void {
    this.specs.forEach((s, i) => {
      const t = tf.tensor(values[i]!, s.shape);
      this.vars[i]!.assign(t);
      t.dispose();
    });
  }

  private loss(batch: Batch): () => tf.Scalar {
    return () => {
      const x = tf.tensor(batch.features, [batch.size, ...this.featureShape]);
      const y = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), this.numClasses);
      const p = this.model.apply(x, { training: true }) as tf.Tensor;
      return tf.metrics.categoricalCrossentropy(y, p).mean() as tf.Scalar;
    };
  }

  /** The mean gradient over the batch, downloaded in one read (one sync point on GPUs). */
  async gradient(batch: Batch): Promise<BatchGradient> {
    const flat = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(this.loss(batch), this.vars);
      const parts = this.vars.map((v) => grads[v.name]!.reshape([-1]));
      return tf.concat([...parts, value.reshape([1])]);
    });
    const { parts, tail } = await readFlat(flat, this.specs);
    return { grads: parts, loss: tail[0]! };
  }

  /** The replica's current parameters, one flat copy per tensor in spec order (local mode's deltas). */
  async readParams(): Promise<Float32Array[]> {
    return Promise.all(this.vars.map(async (v) => (await v.data()) as Float32Array));
  }

  /** A local optimizer step (local mode's inner steps; standalone training, the benchmark's baseline). */
  async localStep(optimizer: tf.Optimizer, batch: Batch): Promise<number> {
    const loss = optimizer.minimize(this.loss(batch), true, this.vars)!;
    const v = (await loss.data())[0]!;
    loss.dispose();
    return v;
  }

  dispose(): void {
    this.model.dispose();
  }
}
