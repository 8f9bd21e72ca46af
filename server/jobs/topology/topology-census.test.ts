/**
 * The census against tfjs as the oracle: for models of every supported layer class,
 * the parameters and output shapes worked out from model.toJSON() alone equal those of
 * the model tfjs builds from that JSON (as the coordinator and every worker do; the
 * JSON, not the live model, is the contract: tfjs's SeparableConv2D does not even
 * serialise its depth multiplier). Then the refusals, each with its code.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { MODEL_PRESETS, modelFromTopology } from '../../../shared/models.js';
import { TopologyRefusal } from './layer-config.js';
import { censusOf, TOPOLOGY_LIMITS } from './topology-census.js';

const L = tf.layers;
const seq = (inputShape: number[], layers: ((first: { inputShape: number[] } | object) => tf.layers.Layer)[]) =>
  tf.sequential({ layers: layers.map((make, i) => make(i === 0 ? { inputShape } : {})) });
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

function functionalModels(): [string, tf.LayersModel][] {
  const a = tf.input({ shape: [8, 8, 3] });
  const conv = apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }), a);
  const depth = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2 }), a);
  const joined = apply(L.concatenate(), [conv, depth]);
  const out = apply(L.dense({ units: 3 }), apply(L.flatten(), joined));

  const b = tf.input({ shape: [6] });
  const shared = L.dense({ units: 5 });
  const left = apply(shared, b);
  const right = apply(shared, apply(L.dense({ units: 6 }), b));
  const sum = apply(L.add(), [left, right]);
  const product = apply(L.dot({ axes: 1 }), [left, right]);
  const both = apply(L.concatenate(), [apply(L.multiply(), [sum, left]), apply(L.average(), [left, right]), apply(L.maximum(), [left, right]), apply(L.minimum(), [left, right]), product]);
  const head = apply(L.dense({ units: 2, activation: 'softmax' }), both);

  const c = tf.input({ shape: [5, 3] });
  const [seqOut, h, cell] = L.lstm({ units: 4, returnSequences: true, returnState: true }).apply(c) as tf.SymbolicTensor[];
  const pooled = apply(L.globalAveragePooling1d(), seqOut!);
  const tail = apply(L.dense({ units: 2 }), apply(L.concatenate(), [pooled, h!, cell!]));
  return [
    ['branches joined by Concatenate', tf.model({ inputs: a, outputs: out })],
    ['a shared Dense, merges and Dot', tf.model({ inputs: b, outputs: head })],
    ['LSTM states as outputs', tf.model({ inputs: c, outputs: tail })],
    ['two outputs', tf.model({ inputs: b, outputs: [sum, head] })],
  ];
}

function sequentialModels(): [string, tf.LayersModel][] {
  return [
    ['the mlp preset on MNIST', MODEL_PRESETS.mlp.build([28, 28, 1], 10, 1)],
    ['the mlp preset on iris', MODEL_PRESETS.mlp.build([4], 3, 1)],
    ['the cnn preset', MODEL_PRESETS.cnn.build([28, 28, 1], 10, 1)],
    ['strided and dilated Conv2D', seq([28, 28, 1], [(f) => L.conv2d({ ...f, filters: 6, kernelSize: [3, 5], strides: 2, padding: 'same' }), () => L.conv2d({ filters: 3, kernelSize: 3, dilationRate: 2, useBias: false }), () => L.flatten(), () => L.dense({ units: 10 })])],
    ['channels_first Conv2D and pooling', seq([3, 16, 16], [(f) => L.conv2d({ ...f, filters: 4, kernelSize: 3, dataFormat: 'channelsFirst' }), () => L.maxPooling2d({ poolSize: 2, dataFormat: 'channelsFirst' }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['Conv1D causal, pooling 1D', seq([20, 4], [(f) => L.conv1d({ ...f, filters: 5, kernelSize: 3, padding: 'causal', dilationRate: 2 }), () => L.averagePooling1d({ poolSize: 3, strides: 2 }), () => L.maxPooling1d({ poolSize: 2, padding: 'same' }), () => L.globalMaxPooling1d(), () => L.dense({ units: 3 })])],
    ['Conv3D and 3D pooling', seq([6, 6, 6, 2], [(f) => L.conv3d({ ...f, filters: 3, kernelSize: 2 }), () => L.maxPooling3d({ poolSize: 2 }), () => L.averagePooling3d({ poolSize: 1 }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['Conv2DTranspose valid and same', seq([7, 7, 4], [(f) => L.conv2dTranspose({ ...f, filters: 3, kernelSize: 3, strides: 2 }), () => L.conv2dTranspose({ filters: 2, kernelSize: 4, strides: 3, padding: 'same' }), () => L.globalAveragePooling2d({}), () => L.dense({ units: 2 })])],
    ['SeparableConv2D and DepthwiseConv2D', seq([12, 12, 3], [(f) => L.separableConv2d({ ...f, filters: 8, kernelSize: 3, depthMultiplier: 2 }), () => L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 3, useBias: false }), () => L.globalMaxPooling2d({}), () => L.dense({ units: 2 })])],
    ['BatchNormalization, LayerNormalization, PReLU', seq([10, 6], [(f) => L.batchNormalization({ ...f }), () => L.layerNormalization({}), () => L.prelu({ sharedAxes: [1] }), () => L.batchNormalization({ axis: 1, center: false }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['Embedding, SimpleRNN, GRU, LSTM', seq([12], [(f) => L.embedding({ ...f, inputDim: 50, outputDim: 8 }), () => L.simpleRNN({ units: 6, returnSequences: true }), () => L.gru({ units: 5, returnSequences: true }), () => L.lstm({ units: 4 }), () => L.dense({ units: 3 })])],
    ['Bidirectional (concat, sum), TimeDistributed', seq([7, 3], [(f) => L.bidirectional({ ...f, layer: L.lstm({ units: 4, returnSequences: true }) as tf.RNN }), () => L.timeDistributed({ layer: L.dense({ units: 5 }) }), () => L.bidirectional({ layer: L.gru({ units: 3 }) as tf.RNN, mergeMode: 'sum' }), () => L.dense({ units: 2 })])],
    ['ConvLSTM2D', seq([4, 8, 8, 2], [(f) => L.convLstm2d({ ...f, filters: 3, kernelSize: 3, returnSequences: true }), () => L.convLstm2d({ filters: 2, kernelSize: 2, padding: 'same' }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['Reshape, Permute, RepeatVector', seq([24], [(f) => L.reshape({ ...f, targetShape: [4, 6] }), () => L.permute({ dims: [2, 1] }), () => L.flatten(), () => L.repeatVector({ n: 3 }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['ZeroPadding2D, Cropping2D, UpSampling2D', seq([9, 9, 2], [(f) => L.zeroPadding2d({ ...f, padding: [[1, 2], [0, 3]] }), () => L.cropping2D({ cropping: [1, 2] }), () => L.upSampling2d({ size: [2, 3] }), () => L.flatten(), () => L.dense({ units: 2 })])],
    ['activations, dropout and noise', seq([5], [(f) => L.dense({ ...f, units: 8 }), () => L.reLU(), () => L.leakyReLU(), () => L.elu(), () => L.thresholdedReLU(), () => L.softmax(), () => L.dropout({ rate: 0.1 }), () => L.gaussianNoise({ stddev: 1 }), () => L.gaussianDropout({ rate: 0.1 }), () => L.alphaDropout({ rate: 0.1 }), () => L.activation({ activation: 'tanh' }), () => L.dense({ units: 2 })])],
  ];
}

const shapesOf = (m: tf.LayersModel) => m.outputs.map((o) => o.shape.slice(1));

describe('census against tfjs', () => {
  for (const [what, model] of [...sequentialModels(), ...functionalModels()]) {
    it(what, async () => {
      const topology = model.toJSON(undefined, false) as object;
      const census = censusOf(topology);
      const built = await modelFromTopology(topology);
      expect(census.parameters).toBe(built.countParams());
      expect(census.outputs).toEqual(shapesOf(built));
      expect(census.layers).toBe(built.layers.length);
      built.dispose();
    });
  }

  it('reads Keras\'s model_config wrapper and camelCase keys, as tfjs does', () => {
    const m = MODEL_PRESETS.cnn.build([28, 28, 1], 10, 1);
    expect(censusOf({ model_config: m.toJSON(undefined, false) }).parameters).toBe(m.countParams());
    const camel = { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { batchInputShape: [null, 4], units: 3, useBias: false } }] } };
    expect(censusOf(camel).parameters).toBe(12);
    m.dispose();
  });
});

describe('refusals', () => {
  const dense = (units: number, extra: object = {}) => ({ class_name: 'Dense', config: { units, ...extra } });
  const sequential = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 's', layers } });
  const refusal = (topology: unknown, limits = TOPOLOGY_LIMITS) => {
    try {
      censusOf(topology, limits);
    } catch (err) {
      if (err instanceof TopologyRefusal) return { code: err.code, message: err.message };
      throw err;
    }
    return null;
  };

  it('counts a 200,000-unit Dense layer without building it', () => {
    const t = sequential([{ class_name: 'Flatten', config: { batch_input_shape: [null, 28, 28, 1] } }, dense(200_000), dense(10)]);
    expect(censusOf(t).parameters).toBe(784 * 200_000 + 200_000 + 200_000 * 10 + 10);
  });

  it('an unknown layer class is UNSUPPORTED_LAYER, named', () => {
    expect(refusal(sequential([dense(4, { batch_input_shape: [null, 4] }), { class_name: 'Lambda', config: { name: 'mystery' } }]))).toMatchObject({
      code: ErrorCode.UNSUPPORTED_LAYER,
      message: expect.stringMatching(/layer "mystery": class Lambda is not supported/),
    });
    const nested = sequential([{ class_name: 'Sequential', config: { name: 'inner', layers: [] } }]);
    expect(refusal(nested)?.code).toBe(ErrorCode.UNSUPPORTED_LAYER);
  });

  it('too many layers, too deep, too many bytes, too large an activation', () => {
    const many = sequential(Array.from({ length: 5000 }, (_, i) => dense(2, i === 0 ? { batch_input_shape: [null, 4] } : {})));
    expect(refusal(many)).toMatchObject({ code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/5000 layers; at most 256/) });
    let deep: object = {};
    for (let i = 0; i < 10_000; i++) deep = { config: deep };
    expect(refusal({ class_name: 'Sequential', config: deep })?.code).toBe(ErrorCode.BAD_REQUEST);
    const padded = sequential([dense(2, { batch_input_shape: [null, 4], pad: 'x'.repeat(TOPOLOGY_LIMITS.maxJsonBytes) })]);
    expect(refusal(padded)?.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
    const blowUp = sequential([{ class_name: 'UpSampling2D', config: { batch_input_shape: [null, 28, 28, 1], size: [1000, 1000] } }]);
    expect(refusal(blowUp)).toMatchObject({ code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/values per example/) });
  });

  it('malformed configs name the layer and the key', () => {
    expect(refusal(sequential([dense(-3, { batch_input_shape: [null, 4], name: 'd' })]))?.message).toMatch(/layer "d" \(Dense\): units must be a positive integer/);
    expect(refusal(sequential([dense(3)]))?.message).toMatch(/needs batch_input_shape/);
    expect(refusal(sequential([{ class_name: 'Conv2D', config: { batch_input_shape: [null, 4, 4, 1], filters: 2, kernel_size: 9 } }]))?.message).toMatch(/larger than its input/);
    expect(refusal({ class_name: 'Nope', config: {} })?.message).toMatch(/class_name must be Sequential, Model or Functional/);
    expect(refusal(null)?.code).toBe(ErrorCode.BAD_REQUEST);
  });

  it('a functional graph whose inputs never appear (a cycle, a missing layer) is refused', () => {
    const layer = (name: string, from: string) => ({ name, class_name: 'Dense', config: { name, units: 2 }, inbound_nodes: [[[from, 0, 0, {}]]] });
    const input = { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 3], name: 'in' }, inbound_nodes: [] };
    const cycle = { class_name: 'Model', config: { layers: [input, layer('a', 'b'), layer('b', 'a')], input_layers: [['in', 0, 0]], output_layers: [['b', 0, 0]] } };
    expect(refusal(cycle)?.message).toMatch(/are never produced/);
    const missing = { class_name: 'Model', config: { layers: [input, layer('a', 'in')], input_layers: [['in', 0, 0]], output_layers: [['zzz', 0, 0]] } };
    expect(refusal(missing)?.message).toMatch(/output_layers/);
  });
});
