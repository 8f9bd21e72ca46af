/**
 * What each tfjs layer class makes of its inputs, worked out from its config alone:
 * the output shapes and the number of weights tfjs would allocate for it (trainable
 * or not). The arithmetic is tfjs-layers' own (convOutputLength, deconvLength, the
 * RNN cells' kernel/recurrent/bias layouts); server/jobs/topology/topology-census.test.ts
 * checks it against tfjs's countParams() and output shapes.
 *
 * A class that is not here is refused (UNSUPPORTED_LAYER) rather than guessed at:
 * a guess that undercounts is the memory bomb this exists to stop.
 */
import { LayerConfig, type Shape } from './layer-config.js';

export interface LayerOutcome {
  outputs: Shape[];
  parameters: number;
}

export type LayerRule = (inputs: Shape[], cfg: LayerConfig) => LayerOutcome;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function one(inputs: Shape[], cfg: LayerConfig): Shape {
  if (inputs.length !== 1) cfg.refuse(`takes one input, got ${inputs.length}`);
  return inputs[0]!;
}

function known(d: number | null | undefined, cfg: LayerConfig, what: string): number {
  if (typeof d !== 'number') cfg.refuse(`needs a known ${what} in its input`);
  return d;
}

function rankOf(s: Shape, rank: number, cfg: LayerConfig): void {
  if (s.length !== rank) cfg.refuse(`expects inputs of rank ${rank + 1} (with the batch), got [null,${s.join(',')}]`);
}

/** tfjs convOutputLength. */
function convLength(length: number | null, kernel: number, stride: number, padding: string, dilation: number, cfg: LayerConfig): number | null {
  if (length === null) return null;
  const dilated = kernel + (kernel - 1) * (dilation - 1);
  const out = padding === 'same' || padding === 'causal' ? length : length - dilated + 1;
  const n = Math.floor((out + stride - 1) / stride);
  if (n < 1) cfg.refuse(`its window (${dilated}) is larger than its input (${length})`);
  return n;
}

/** tfjs deconvLength. */
const deconvLength = (length: number | null, stride: number, kernel: number, padding: string) =>
  length === null ? null : length * stride + (padding === 'valid' ? Math.max(kernel - stride, 0) : 0);

type ConvKind = 'conv' | 'transpose' | 'separable' | 'depthwise';

/** Conv1D/2D/3D, their transposes, SeparableConv2D and DepthwiseConv2D. */
function conv(rank: number, kind: ConvKind): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    rankOf(s, rank + 1, cfg);
    const last = cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') === 'channels_last';
    const channels = known(last ? s[rank] : s[0], cfg, 'channel count');
    const spatial = last ? s.slice(0, rank) : s.slice(1);
    const kernel = cfg.sizes('kernel_size', rank);
    const strides = cfg.sizes('strides', rank, 1);
    const dilation = cfg.sizes('dilation_rate', rank, 1);
    const padding = cfg.choice('padding', rank === 1 ? ['valid', 'same', 'causal'] : ['valid', 'same'], 'valid');
    const bias = cfg.flag('use_bias', true);
    const window = prod(kernel);
    const multiplier = kind === 'separable' || kind === 'depthwise' ? cfg.size('depth_multiplier', 1) : 1;
    const filters = kind === 'depthwise' ? channels * multiplier : cfg.size('filters');
    const out = spatial.map((d, i) =>
      kind === 'transpose' ? deconvLength(d, strides[i]!, kernel[i]!, padding) : convLength(d, kernel[i]!, strides[i]!, padding, dilation[i]!, cfg),
    );
    const weights =
      kind === 'separable' ? window * channels * multiplier + channels * multiplier * filters : kind === 'depthwise' ? window * channels * multiplier : window * channels * filters;
    return { outputs: [last ? [...out, filters] : [filters, ...out]], parameters: weights + (bias ? filters : 0) };
  };
}

function pooling(rank: number): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    rankOf(s, rank + 1, cfg);
    const last = cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') === 'channels_last';
    const size = cfg.sizes('pool_size', rank, 2);
    const strides = cfg.has('strides') ? cfg.sizes('strides', rank) : size;
    const padding = cfg.choice('padding', ['valid', 'same'], 'valid');
    const spatial = last ? s.slice(0, rank) : s.slice(1);
    const out = spatial.map((d, i) => convLength(d, size[i]!, strides[i]!, padding, 1, cfg));
    return { outputs: [last ? [...out, s[rank]!] : [s[0]!, ...out]], parameters: 0 };
  };
}

function globalPooling(rank: number): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    rankOf(s, rank + 1, cfg);
    const last = cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') === 'channels_last';
    return { outputs: [[last ? s[rank]! : s[0]!]], parameters: 0 };
  };
}

const RNN_GATES = { SimpleRNN: 1, GRU: 3, LSTM: 4 } as const;

/** SimpleRNN, GRU, LSTM: one kernel, one recurrent kernel and one bias per gate. */
function recurrent(kind: keyof typeof RNN_GATES): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    rankOf(s, 2, cfg);
    const features = known(s[1], cfg, 'feature count');
    const units = cfg.size('units');
    const gates = RNN_GATES[kind];
    // Keras's reset_after GRU has two biases per gate.
    const biases = cfg.flag('use_bias', true) ? (kind === 'GRU' && cfg.get('reset_after') === true ? 2 : 1) : 0;
    const out: Shape = cfg.flag('return_sequences', false) ? [s[0]!, units] : [units];
    const states: Shape[] = cfg.flag('return_state', false) ? Array.from({ length: kind === 'LSTM' ? 2 : 1 }, () => [units]) : [];
    return { outputs: [out, ...states], parameters: gates * (features * units + units * units + biases * units) };
  };
}

function convLstm2d(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  rankOf(s, 4, cfg);
  if (cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') !== 'channels_last') cfg.refuse('only channels_last is supported');
  const channels = known(s[3], cfg, 'channel count');
  const filters = cfg.size('filters');
  const kernel = cfg.sizes('kernel_size', 2);
  const strides = cfg.sizes('strides', 2, 1);
  const dilation = cfg.sizes('dilation_rate', 2, 1);
  const padding = cfg.choice('padding', ['valid', 'same'], 'valid');
  const spatial = [s[1]!, s[2]!].map((d, i) => convLength(d, kernel[i]!, strides[i]!, padding, dilation[i]!, cfg));
  const frame: Shape = [...spatial, filters];
  const bias = cfg.flag('use_bias', true) ? filters : 0;
  const out: Shape = cfg.flag('return_sequences', false) ? [s[0]!, ...frame] : frame;
  const states: Shape[] = cfg.flag('return_state', false) ? [frame, frame] : [];
  return { outputs: [out, ...states], parameters: 4 * (prod(kernel) * channels * filters + prod(kernel) * filters * filters + bias) };
}

function bidirectional(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const inner = cfg.wrapped();
  if (!(inner.className in RNN_GATES)) cfg.refuse(`wraps ${inner.className.slice(0, 40)}; only SimpleRNN, GRU and LSTM are supported`);
  const r = recurrent(inner.className as keyof typeof RNN_GATES)(inputs, inner.config);
  const [out, ...states] = r.outputs;
  const mode = cfg.get('merge_mode') === null ? null : cfg.choice('merge_mode', ['concat', 'sum', 'mul', 'ave'], 'concat');
  const merged: Shape[] = mode === null ? [out!, out!] : mode === 'concat' ? [[...out!.slice(0, -1), out!.at(-1)! * 2]] : [out!];
  return { outputs: [...merged, ...states, ...states], parameters: 2 * r.parameters };
}

function timeDistributed(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  if (s.length < 2) cfg.refuse('needs inputs of rank 3 or more (with the batch)');
  const inner = cfg.wrapped();
  const rule = LAYER_RULES[inner.className];
  if (!rule || inner.className === 'TimeDistributed' || inner.className === 'Bidirectional') cfg.refuse(`wraps ${inner.className.slice(0, 40)}, which is not supported there`);
  const r = rule([s.slice(1)], inner.config);
  if (r.outputs.length !== 1) cfg.refuse('its layer must have one output');
  return { outputs: [[s[0]!, ...r.outputs[0]!]], parameters: r.parameters };
}

/** The normalised axis (over the per-example dimensions) of `axis` counted with the batch. */
function featureAxis(axis: unknown, rank: number, cfg: LayerConfig, key: string): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis)) cfg.refuse(`${key} must be an integer`);
  const a = axis < 0 ? rank + 1 + axis : axis;
  if (a < 1 || a > rank) cfg.refuse(`${key} ${axis} is outside the input's dimensions`);
  return a - 1;
}

/** BatchNormalization (gamma, beta, moving mean and variance) and LayerNormalization (gamma, beta). */
function normalization(moving: boolean): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    const axes = Array.isArray(cfg.get('axis')) ? (cfg.get('axis') as unknown[]) : [cfg.get('axis') ?? -1];
    const size = axes.reduce<number>((n, a) => n * known(s[featureAxis(a, s.length, cfg, 'axis')], cfg, 'size on its axis'), 1);
    const affine = (cfg.flag('center', true) ? 1 : 0) + (cfg.flag('scale', true) ? 1 : 0);
    return { outputs: [s], parameters: size * (affine + (moving ? 2 : 0)) };
  };
}

function dense(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  if (s.length === 0) cfg.refuse('needs inputs of rank 2 or more (with the batch)');
  const features = known(s.at(-1), cfg, 'last dimension');
  const units = cfg.size('units');
  return { outputs: [[...s.slice(0, -1), units]], parameters: features * units + (cfg.flag('use_bias', true) ? units : 0) };
}

function embedding(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  const dim = cfg.size('output_dim');
  return { outputs: [[...s, dim]], parameters: cfg.size('input_dim') * dim };
}

function prelu(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  const shared = cfg.has('shared_axes') ? [cfg.get('shared_axes')].flat() : [];
  const alphas = s.map((d, i) => (shared.includes(i + 1) ? 1 : known(d, cfg, 'shape')));
  return { outputs: [s], parameters: prod(alphas) };
}

function flatten(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  return { outputs: [[prod(s.map((d) => known(d, cfg, 'shape (every dimension)')))]], parameters: 0 };
}

function reshape(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  const target = cfg.get('target_shape');
  if (!Array.isArray(target) || target.length === 0 || !target.every((d) => d === -1 || (Number.isSafeInteger(d) && d > 0)) || target.filter((d) => d === -1).length > 1) {
    cfg.refuse('target_shape must be positive integers with at most one -1');
  }
  const dims = target as number[];
  const total = s.every((d) => d !== null) ? prod(s as number[]) : null;
  const fixed = prod(dims.filter((d) => d !== -1));
  if (total !== null && (dims.includes(-1) ? total % fixed !== 0 : total !== fixed)) cfg.refuse(`cannot reshape [${s}] to [${dims}]`);
  // tfjs leaves the -1 open in the symbolic shape (its batch dimension counts as unknown), so later layers cannot size from it either.
  return { outputs: [dims.map((d) => (d === -1 ? null : d))], parameters: 0 };
}

function permute(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  const dims = cfg.get('dims');
  const valid = Array.isArray(dims) && dims.length === s.length && [...dims].sort().every((d, i) => d === i + 1);
  if (!valid) cfg.refuse(`dims must be a permutation of 1…${s.length}`);
  return { outputs: [(dims as number[]).map((d) => s[d - 1]!)], parameters: 0 };
}

function repeatVector(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  rankOf(s, 1, cfg);
  return { outputs: [[cfg.size('n'), s[0]!]], parameters: 0 };
}

/** ZeroPadding2D adds, Cropping2D takes away: `n`, `[h, w]` or `[[top, bottom], [left, right]]`. */
function border(sign: 1 | -1, key: string): LayerRule {
  return (inputs, cfg) => {
    const s = one(inputs, cfg);
    rankOf(s, 3, cfg);
    const v = cfg.get(key) ?? (sign > 0 ? 1 : 0);
    const pairs = typeof v === 'number' ? [[v, v], [v, v]] : Array.isArray(v) && v.every((x) => typeof x === 'number') ? v.map((x) => [x, x]) : v;
    const ok = Array.isArray(pairs) && pairs.length === 2 && pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isSafeInteger(x) && x >= 0));
    if (!ok) cfg.refuse(`${key} must be n, [h, w] or [[top, bottom], [left, right]] of non-negative integers`);
    const [[t, b], [l, r]] = pairs as number[][];
    const last = cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') === 'channels_last';
    const [h, w] = last ? [s[0]!, s[1]!] : [s[1]!, s[2]!];
    const grow = (d: number | null, a: number, z: number) => (d === null ? null : d + sign * (a + z));
    const out = [grow(h, t!, b!), grow(w, l!, r!)];
    if (out.some((d) => d !== null && d < 1)) cfg.refuse(`crops more than its input [${s}]`);
    return { outputs: [last ? [...out, s[2]!] : [s[0]!, ...out]], parameters: 0 };
  };
}

function upSampling2d(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  rankOf(s, 3, cfg);
  const [sh, sw] = cfg.sizes('size', 2, 2);
  const last = cfg.choice('data_format', ['channels_last', 'channels_first'], 'channels_last') === 'channels_last';
  const times = (d: number | null, k: number) => (d === null ? null : d * k);
  return { outputs: [last ? [times(s[0]!, sh!), times(s[1]!, sw!), s[2]!] : [s[0]!, times(s[1]!, sh!), times(s[2]!, sw!)]], parameters: 0 };
}

/** Resizing and CenterCrop: a fixed height × width, channels last. */
function fixedFrame(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  rankOf(s, 3, cfg);
  return { outputs: [[cfg.size('height'), cfg.size('width'), s[2]!]], parameters: 0 };
}

function categoryEncoding(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  const s = one(inputs, cfg);
  const tokens = cfg.size('num_tokens');
  const oneHot = cfg.choice('output_mode', ['oneHot', 'one_hot', 'multiHot', 'multi_hot', 'count'], 'multiHot').startsWith('one');
  return { outputs: [oneHot && s.at(-1) !== 1 ? [...s, tokens] : [...s.slice(0, -1), tokens]], parameters: 0 };
}

/** Add, Multiply, Average, Maximum, Minimum: inputs broadcast against each other. */
function elementwise(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  if (inputs.length < 2) cfg.refuse(`merges two or more inputs, got ${inputs.length}`);
  const rank = inputs.reduce((r, s) => Math.max(r, s.length), 0);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const dims = inputs.map((s) => s[s.length - rank + i]).filter((d) => d !== undefined && d !== 1);
    const sizes = new Set(dims.filter((d): d is number => d !== null));
    if (sizes.size > 1) cfg.refuse(`cannot merge inputs of shapes ${inputs.map((s) => `[${s}]`).join(', ')}`);
    out.push(sizes.size ? [...sizes][0]! : dims.length ? null : 1);
  }
  return { outputs: [out], parameters: 0 };
}

function concatenate(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  if (inputs.length < 2) cfg.refuse(`joins two or more inputs, got ${inputs.length}`);
  const rank = inputs[0]!.length;
  if (inputs.some((s) => s.length !== rank)) cfg.refuse('its inputs must all have the same rank');
  const axis = featureAxis(cfg.get('axis') ?? -1, rank, cfg, 'axis');
  const out = [...inputs[0]!];
  out[axis] = inputs.every((s) => s[axis] !== null) ? inputs.reduce((n, s) => n + s[axis]!, 0) : null;
  return { outputs: [out], parameters: 0 };
}

/** tfjs Dot.computeOutputShape (inputs of rank 2 or 3 with the batch). */
function dot(inputs: Shape[], cfg: LayerConfig): LayerOutcome {
  if (inputs.length !== 2) cfg.refuse('takes exactly two inputs');
  const [a, b] = inputs.map((s) => [null, ...s]) as Shape[];
  if (a!.length > 3 || b!.length > 3) cfg.refuse('supports inputs of rank 2 or 3 only');
  const raw = cfg.get('axes');
  const axes = (Array.isArray(raw) ? raw : [raw, raw]).map((x, i) => {
    const rank = (i === 0 ? a : b)!.length;
    if (typeof x !== 'number' || !Number.isInteger(x) || x >= rank || x < -rank) cfg.refuse('axes must be integers within the inputs\' ranks');
    return x < 0 ? x + rank : x;
  });
  a!.splice(axes[0]!, 1);
  b!.splice(axes[1]!, 1);
  b!.splice(0, 1);
  const out = [...a!, ...b!];
  return { outputs: [out.length === 1 ? [1] : out.slice(1)], parameters: 0 };
}

const same: LayerRule = (inputs, cfg) => ({ outputs: [one(inputs, cfg)], parameters: 0 });

const inputLayer: LayerRule = (_inputs, cfg) => ({ outputs: [cfg.inputShape() ?? cfg.refuse('needs batch_input_shape')], parameters: 0 });

export const LAYER_RULES: Readonly<Record<string, LayerRule>> = {
  InputLayer: inputLayer,
  Dense: dense,
  Embedding: embedding,
  Conv1D: conv(1, 'conv'),
  Conv2D: conv(2, 'conv'),
  Conv3D: conv(3, 'conv'),
  Conv2DTranspose: conv(2, 'transpose'),
  Conv3DTranspose: conv(3, 'transpose'),
  SeparableConv2D: conv(2, 'separable'),
  DepthwiseConv2D: conv(2, 'depthwise'),
  ConvLSTM2D: convLstm2d,
  SimpleRNN: recurrent('SimpleRNN'),
  GRU: recurrent('GRU'),
  LSTM: recurrent('LSTM'),
  Bidirectional: bidirectional,
  TimeDistributed: timeDistributed,
  BatchNormalization: normalization(true),
  LayerNormalization: normalization(false),
  PReLU: prelu,
  MaxPooling1D: pooling(1),
  AveragePooling1D: pooling(1),
  MaxPooling2D: pooling(2),
  AveragePooling2D: pooling(2),
  MaxPooling3D: pooling(3),
  AveragePooling3D: pooling(3),
  GlobalMaxPooling1D: globalPooling(1),
  GlobalAveragePooling1D: globalPooling(1),
  GlobalMaxPooling2D: globalPooling(2),
  GlobalAveragePooling2D: globalPooling(2),
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  RepeatVector: repeatVector,
  ZeroPadding2D: border(1, 'padding'),
  Cropping2D: border(-1, 'cropping'),
  UpSampling2D: upSampling2d,
  Resizing: fixedFrame,
  CenterCrop: fixedFrame,
  CategoryEncoding: categoryEncoding,
  Add: elementwise,
  Multiply: elementwise,
  Average: elementwise,
  Maximum: elementwise,
  Minimum: elementwise,
  Concatenate: concatenate,
  Dot: dot,
  Activation: same,
  ReLU: same,
  LeakyReLU: same,
  ELU: same,
  ThresholdedReLU: same,
  Softmax: same,
  Dropout: same,
  SpatialDropout1D: same,
  GaussianNoise: same,
  GaussianDropout: same,
  AlphaDropout: same,
  Masking: same,
  Rescaling: same,
};
