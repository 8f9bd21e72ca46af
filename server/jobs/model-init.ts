/**
 * A job's model as the PS holds it: the Layers topology workers rebuild, the tensor
 * specs pushes are checked against, and initial values drawn by tfjs's own
 * initializers (Glorot-uniform kernels, zero biases; presets are seeded by the job).
 * An uploaded topology is sized from its JSON first (topology/topology-census.ts: tfjs
 * allocates every weight while it builds, so an oversized model must be refused
 * before), then rebuilt by tfjs and checked against the dataset here, so a bad one is
 * refused at creation with its reason instead of failing in every browser.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { ModelName } from '../../shared/job-spec.js';
import { MODEL_PRESETS, modelFromTopology, tensorSpecsOf } from '../../shared/models.js';
import { totalSize, type TensorSpec } from '../../shared/tensors.js';
import { initNodeTf, tf } from '../tf-node.js';
import { TopologyRefusal } from './topology/layer-config.js';
import { censusOf } from './topology/topology-census.js';

export interface InitialModel {
  topology: object;
  tensors: TensorSpec[];
  values: Float32Array[];
}

/** A model the job cannot train; `field` is the spec path whose change fixes it, and prefixes the API's message (the dashboard shows it under that input). */
export class ModelSpecError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode = ErrorCode.BAD_REQUEST,
    readonly field: 'model' | 'stages' | 'maxWorkerParamBytes' = 'model',
  ) {
    super(message);
    this.name = 'ModelSpecError';
  }
}

/** Refuses a topology over the bounds or the parameter limit from its JSON, before tfjs builds anything. */
function sizeUp(topology: object, maxParameters: number): void {
  try {
    const { parameters } = censusOf(topology);
    if (parameters > maxParameters) {
      throw new ModelSpecError(`The model has ${parameters} parameters (counted from its topology); this coordinator accepts at most ${maxParameters}`, ErrorCode.MODEL_TOO_LARGE);
    }
  } catch (err) {
    if (err instanceof TopologyRefusal) throw new ModelSpecError(err.message, err.code);
    throw err;
  }
}

async function build(model: ModelName, topology: object | null, featureShape: number[], numClasses: number, seed: number, maxParameters: number) {
  if (model !== 'custom') {
    try {
      return MODEL_PRESETS[model].build(featureShape, numClasses, seed);
    } catch (err) {
      throw new ModelSpecError(`Model "${model}" does not fit input [${featureShape}]: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!topology || typeof topology !== 'object') throw new ModelSpecError('A custom model needs a tfjs Layers topology (model.toJSON())');
  sizeUp(topology, maxParameters);
  try {
    return await modelFromTopology(topology);
  } catch (err) {
    throw new ModelSpecError(`The topology is not a valid tfjs Layers model: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function check(m: tf.LayersModel, featureShape: number[], numClasses: number, maxParameters: number): void {
  if (m.inputs.length !== 1 || m.outputs.length !== 1) throw new ModelSpecError('The model must have exactly one input and one output');
  const input = m.inputs[0]!.shape.slice(1);
  if (input.length !== featureShape.length || input.some((d, i) => d !== featureShape[i])) {
    throw new ModelSpecError(`The model's input is [${input}], the dataset's examples are [${featureShape}]`);
  }
  const output = m.outputs[0]!.shape;
  if (output.length !== 2 || output[1] !== numClasses) throw new ModelSpecError(`The model's output is [${output.slice(1)}], the dataset has ${numClasses} classes`);
  if (m.nonTrainableWeights.length > 0) {
    throw new ModelSpecError(`Non-trainable weights (${m.nonTrainableWeights.map((w) => w.originalName).join(', ')}) are not supported by the parameter server`);
  }
  const n = totalSize(tensorSpecsOf(m));
  if (n > maxParameters) throw new ModelSpecError(`The model has ${n} parameters; this coordinator accepts at most ${maxParameters}`, ErrorCode.MODEL_TOO_LARGE);
  if (n === 0) throw new ModelSpecError('The model has no trainable parameters');
}

export async function buildInitialModel(
  model: ModelName,
  topology: object | null,
  featureShape: number[],
  numClasses: number,
  seed: number,
  maxParameters: number,
): Promise<InitialModel> {
  await initNodeTf();
  const m = await build(model, topology, featureShape, numClasses, seed, maxParameters);
  try {
    check(m, featureShape, numClasses, maxParameters);
    return {
      topology: m.toJSON(undefined, false) as object,
      tensors: tensorSpecsOf(m),
      values: m.trainableWeights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array)),
    };
  } finally {
    m.dispose();
  }
}
