/**
 * One stage of a model split over several workers (model parallelism, GPipe-style): a
 * contiguous range of a Sequential topology's layers, built on its own so a tab holds
 * only its part of the weights. Its weights keep the whole model's names
 * (`dense1/kernel`), so it pulls and pushes its own tensors through the usual PS path.
 *
 * A mini-batch is cut into M micro-batches. Each goes forward through every stage;
 * then back, each stage receiving the gradient of its output (dy) and returning that
 * of its input. A stage keeps only the input of each micro-batch in flight and
 * recomputes its forward pass under the tape when the gradient arrives (GPipe's
 * re-materialisation), so its memory holds M boundary activations, not every layer's.
 * Gradients add up over the micro-batches; the last stage scales each micro-batch's
 * loss by its share of the mini-batch, so the sum is the unsplit model's mean gradient.
 * Every tensor it creates is disposed: tf.memory().numTensors is flat across steps.
 *
 * Across the flush (docs/model-parallelism.md, "Overlap across the flush") mini-batch
 * n + 1's micro-batches may go forward while n's come back, so everything is kept per
 * mini-batch (`step`, as frames number it): the micro-batches in flight, each step's
 * gradient sum and loss, and the parameters each micro-batch went forward with
 * (param-versions.ts), on which its backward recomputes it. A trainer run one
 * mini-batch at a time may leave `step` out (0).
 */
import { readFlat } from './flat-read.js';
import * as tf from '@tensorflow/tfjs';
import { ParamVersions } from './param-versions.js';
import { modelFromTopology } from '../../shared/models.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { Batch } from './model-trainer.js';

export interface StageRange {
  /** Layers [from, to) of the topology's layer list (an InputLayer entry not counted). */
  from: number;
  to: number;
  /** One example's input to the stage: the features' shape for the first, the previous stage's output shape after. */
  inputShape: number[];
}

export interface StageGradient {
  /** One flat array per tensor of the stage, in its specs' order. */
  grads: Float32Array[];
  /** The mini-batch's mean loss (the last stage), else null. */
  loss: number | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Keys by which a layer declares its input (snake_case as tfjs writes, camelCase as it also reads). */
const INPUT_KEYS = ['batch_input_shape', 'batchInputShape', 'input_shape', 'inputShape', 'input_dim', 'inputDim', 'input_length', 'inputLength'];

/** The layer list of a Sequential topology, as model.toJSON() writes it (or wrapped in Keras's model_config). */
function sequentialLayers(topology: object): { name: string; layers: Json[] } {
  const t = topology as Json;
  const model = isObject(t.model_config) ? t.model_config : t;
  const config = model.config;
  const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (model.class_name !== 'Sequential' || !Array.isArray(layers) || !layers.every(isObject)) {
    throw new Error('Only Sequential topologies can be split into stages (a functional graph would need its cuts to cross one tensor each)');
  }
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'model';
  return { name, layers: (layers as Json[]).filter((l) => l.class_name !== 'InputLayer') };
}

/** The topology of layers [from, to), its first layer taking the stage's input shape. */
export function stageTopology(topology: object, range: StageRange): object {
  const { name, layers } = sequentialLayers(topology);
  const { from, to } = range;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= layers.length)) {
    throw new Error(`A stage's layers must be a non-empty range of the model's ${layers.length}; got [${from}, ${to})`);
  }
  const part = structuredClone(layers.slice(from, to));
  const first = part[0]!;
  const config = { ...(first.config as Json) };
  for (const key of INPUT_KEYS) delete config[key];
  config.batch_input_shape = [null, ...range.inputShape];
  first.config = config;
  return { class_name: 'Sequential', config: { name: `${name}-layers-${from}-${to}`, layers: part } };
}

/** Cuts a mini-batch into `m` micro-batches of sizes as equal as can be (the first ones one larger). */
export function microbatches(batch: Batch, m: number): Batch[] {
  if (!(Number.isInteger(m) && m >= 1 && m <= batch.size)) throw new Error(`A batch of ${batch.size} cannot be cut into ${m} micro-batches`);
  const perExample = batch.features.length / batch.size;
  const out: Batch[] = [];
  let at = 0;
  for (let i = 0; i < m; i++) {
    const size = Math.floor(batch.size / m) + (i < batch.size % m ? 1 : 0);
    out.push({ features: batch.features.subarray(at * perExample, (at + size) * perExample), labels: batch.labels.subarray(at, at + size), size });
    at += size;
  }
  return out;
}

/** A micro-batch gone forward and not yet back: its input and the parameters' version it went forward with. */
interface InFlight {
  step: number;
  micro: number;
  x: tf.Tensor;
  version: number;
}

const keyOf = (step: number, micro: number) => `${step}/${micro}`;

export class StageTrainer {
  /** The micro-batches gone forward and not yet back, by step and micro-batch number. */
  private readonly inFlight = new Map<string, InFlight>();
  /** Each step's gradient summed over its micro-batches so far (each step apart: a push takes only the steps it closes). */
  private readonly sums = new Map<number, tf.Tensor[]>();
  /** Each step's loss so far (the last stage). */
  private readonly lossSums = new Map<number, tf.Scalar>();
  private readonly versions: ParamVersions;

  private constructor(
    readonly model: tf.LayersModel,
    private readonly vars: tf.Variable[],
    /** The stage's own tensors, in the job's order. */
    readonly specs: TensorSpec[],
    readonly inputShape: number[],
    readonly outputShape: number[],
    /** The first stage's input is the data: it needs no gradient of it. */
    readonly isFirst: boolean,
    /** The last stage computes the loss. */
    readonly isLast: boolean,
    private readonly numClasses: number,
  ) {
    this.versions = new ParamVersions(vars);
  }

  /** `jobSpecs` are the whole model's tensors; the stage takes those of its layers. */
  static async create(topology: object, jobSpecs: TensorSpec[], range: StageRange, numClasses: number): Promise<StageTrainer> {
    const layerCount = sequentialLayers(topology).layers.length;
    const model = await modelFromTopology(stageTopology(topology, range));
    const jobShapes = new Map(jobSpecs.map((s) => [s.name, s.shape]));
    const own = model.trainableWeights.map((w) => {
      const shape = jobShapes.get(w.originalName);
      if (!shape) {
        model.dispose();
        throw new Error(`The stage's tensor "${w.originalName}" is not among the job's (${[...jobShapes.keys()].join(', ')})`);
      }
      if (!sameShape(w.shape as number[], shape)) {
        model.dispose();
        throw new Error(`Tensor "${w.originalName}" is [${w.shape}] in the stage, [${shape}] in the job`);
      }
      return w;
    });
    const order = new Map(jobSpecs.map((s, i) => [s.name, i]));
    own.sort((a, b) => order.get(a.originalName)! - order.get(b.originalName)!);
    const specs = own.map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
    const outputShape = (model.outputs[0]!.shape as number[]).slice(1);
    return new StageTrainer(model, own.map((w) => w.read() as tf.Variable), specs, range.inputShape, outputShape, range.from === 0, range.to === layerCount, numClasses);
  }

  /**
   * The stage's parameters, one flat array per tensor of its specs: the next micro-batches
   * go forward on them; those in flight come back on the ones they went forward with.
   */
  setParams(values: readonly Float32Array[]): void {
    if (values.length !== this.specs.length) throw new Error(`The stage has ${this.specs.length} tensors, got ${values.length}`);
    this.versions.set(this.specs.map((s, i) => tf.tensor(values[i]!, s.shape)));
  }

  /** Older parameter versions kept for micro-batches in flight. */
  get keptVersions(): number {
    return this.versions.kept;
  }

  private input(values: Float32Array, size: number): tf.Tensor {
    const want = size * sizeOf(this.inputShape);
    if (!(Number.isInteger(size) && size > 0) || values.length !== want) throw new Error(`A micro-batch of ${size} needs ${want} input values of [${this.inputShape}] each; got ${values.length}`);
    return tf.tensor(values, [size, ...this.inputShape]);
  }

  private apply(x: tf.Tensor): tf.Tensor {
    return this.model.apply(x, { training: true }) as tf.Tensor;
  }

  /** Micro-batch `micro` of mini-batch `step`: its output (the next stage's input); its input is kept until its gradient comes back. */
  async forward(micro: number, input: Float32Array, size: number, step = 0): Promise<Float32Array> {
    if (this.isLast) throw new Error('The last stage goes forward and back at once: lossAndBackward');
    const key = keyOf(step, micro);
    if (this.inFlight.has(key)) throw new Error(`Micro-batch ${micro} of step ${step} is already in flight`);
    const x = this.input(input, size);
    this.inFlight.set(key, { step, micro, x, version: this.versions.hold() });
    const y = tf.tidy(() => this.apply(x));
    try {
      return (await y.data()) as Float32Array;
    } finally {
      y.dispose();
    }
  }

  /**
   * Micro-batch `micro`'s way back: from the gradient of its output, the gradient of its
   * input (null for the first stage) and its weights' gradients, added to the step's.
   */
  async backward(micro: number, dy: Float32Array, step = 0): Promise<Float32Array | null> {
    if (this.isLast) throw new Error('The last stage goes back from its loss: lossAndBackward');
    const key = keyOf(step, micro);
    const flight = this.inFlight.get(key);
    if (!flight) throw new Error(`Micro-batch ${micro} did not go forward through this stage in step ${step}, or already came back`);
    const { x, version } = flight;
    const size = x.shape[0]!;
    const want = size * sizeOf(this.outputShape);
    if (dy.length !== want) throw new Error(`Micro-batch ${micro}'s output gradient needs ${want} values of [${this.outputShape}] each; got ${dy.length}`);
    this.inFlight.delete(key);
    try {
      // Recomputed on the parameters its forward used, whatever the stage took since.
      this.versions.load(version);
      return await this.accumulate(step, x, (xs) => {
        const upstream = tf.tensor(dy, [size, ...this.outputShape]);
        return tf.engine().gradients(() => this.apply(x), xs, upstream).grads;
      });
    } finally {
      x.dispose();
      this.versions.release(version);
    }
  }

  /**
   * The last stage's forward and backward of one micro-batch: its loss counts for
   * size ÷ `miniBatchSize` of the mini-batch's mean. Returns the gradient of its input
   * (null when the stage is also the first).
   */
  async lossAndBackward(input: Float32Array, labels: Uint8Array, miniBatchSize: number, step = 0): Promise<Float32Array | null> {
    if (!this.isLast) throw new Error('Only the last stage has the labels and the loss');
    if (labels.length === 0 || !(Number.isInteger(miniBatchSize) && miniBatchSize >= labels.length)) {
      throw new Error(`A micro-batch of ${labels.length} labels cannot be part of a mini-batch of ${miniBatchSize}`);
    }
    const stray = labels.findIndex((l) => l >= this.numClasses);
    if (stray >= 0) throw new Error(`Label ${labels[stray]} (example ${stray}) is not one of the ${this.numClasses} classes`);
    const x = this.input(input, labels.length);
    try {
      // Forward and backward at once, nothing in between: the newest parameters serve both.
      this.versions.loadNewest();
      return await this.accumulate(step, x, (xs) => {
        const loss = () => {
          const y = tf.oneHot(tf.tensor1d(labels, 'int32'), this.numClasses);
          return tf.metrics.categoricalCrossentropy(y, this.apply(x)).sum().div(miniBatchSize) as tf.Scalar;
        };
        const { value, grads } = tf.engine().gradients(loss, xs);
        const before = this.lossSums.get(step);
        const total = before ? before.add(value) : value.clone();
        before?.dispose();
        this.lossSums.set(step, tf.keep(total as tf.Scalar));
        return grads;
      });
    } finally {
      x.dispose();
    }
  }

  /** Runs one micro-batch's backward (`grads` of [x, ...weights], x left out for the first stage) and adds its weights' share to its step's sum. */
  private async accumulate(step: number, x: tf.Tensor, grads: (xs: tf.Tensor[]) => tf.Tensor[]): Promise<Float32Array | null> {
    if (this.isFirst && this.vars.length === 0) {
      // A first stage without weights (a lone Flatten) has nothing to learn and no one to send a gradient to.
      if (!this.sums.has(step)) this.sums.set(step, []);
      return null;
    }
    const dx = tf.tidy(() => {
      const xs = this.isFirst ? this.vars : [x, ...this.vars];
      const g = grads(xs);
      const own = this.isFirst ? g : g.slice(1);
      const before = this.sums.get(step);
      const sums = own.map((t, i) => (before ? before[i]!.add(t) : t));
      before?.forEach((t) => t.dispose());
      this.sums.set(step, sums.map((t) => tf.keep(t)));
      return this.isFirst ? [] : [g[0]!];
    })[0];
    if (!dx) return null;
    try {
      return (await dx.data()) as Float32Array;
    } finally {
      dx.dispose();
    }
  }

  /**
   * Takes the sums of steps up to `through` out of the trainer: each weight's gradient and
   * the loss, added over those steps (the caller disposes them); later steps' sums stay.
   * Every micro-batch of those steps must have come back.
   */
  private takeSums(through: number, what: string): { sums: tf.Tensor[]; loss: tf.Scalar | null } {
    const out = [...this.inFlight.values()].filter((f) => f.step <= through);
    if (out.length > 0) throw new Error(`Micro-batches ${out.map((f) => keyOf(f.step, f.micro)).join(', ')} went forward and never came back`);
    const steps = [...new Set([...this.sums.keys(), ...this.lossSums.keys()])].filter((s) => s <= through);
    if (steps.length === 0) throw new Error(`No micro-batch came back through this stage since its last ${what}`);
    const parts = steps.map((s) => this.sums.get(s) ?? []);
    const losses = steps.flatMap((s) => this.lossSums.get(s) ?? []);
    steps.forEach((s) => (this.sums.delete(s), this.lossSums.delete(s)));
    if (parts.length === 1) return { sums: parts[0]!, loss: losses[0] ?? null };
    // A stage without weights sums nothing: every step's part is empty.
    const sums = parts[0]!.map((_, i) => tf.addN(parts.map((p) => p[i]!)));
    const loss = losses.length ? (tf.addN(losses) as tf.Scalar) : null;
    parts.forEach((p) => p.forEach((t) => t.dispose()));
    losses.forEach((t) => t.dispose());
    return { sums, loss };
  }

  /**
   * The gradient of steps up to `through` (every step so far by default) summed over their
   * micro-batches, downloaded in one read, and their loss; later steps' sums stay for their
   * own push.
   */
  async takeGradient(through = Infinity): Promise<StageGradient> {
    const { sums, loss } = this.takeSums(through, 'gradient');
    if (sums.length === 0 && !loss) return { grads: [], loss: null };
    const flat = tf.tidy(() => tf.concat([...sums.map((t) => t.reshape([-1])), ...(loss ? [loss.reshape([1])] : [])]));
    sums.forEach((t) => t.dispose());
    loss?.dispose();
    const { parts: grads, tail } = await readFlat(flat, this.specs);
    return { grads, loss: loss ? tail[0]! : null };
  }

  /**
   * Local mode: applies the gradient of every step so far (summed over its micro-batches)
   * to the stage's layers with `optimizer`, and starts a new step. Returns the loss (the
   * last stage), else null. Only with nothing in flight (round modes run one mini-batch
   * at a time), since the layers move.
   */
  async localStep(optimizer: tf.Optimizer): Promise<number | null> {
    if (this.inFlight.size > 0) throw new Error(`Micro-batches ${[...this.inFlight.keys()].join(', ')} went forward and never came back`);
    const { sums, loss } = this.takeSums(Infinity, 'step');
    if (sums.length) {
      this.versions.loadNewest();
      optimizer.applyGradients(Object.fromEntries(this.vars.map((v, i) => [v.name, sums[i]!])));
      this.versions.movedInPlace();
    }
    sums.forEach((t) => t.dispose());
    if (!loss) return null;
    try {
      return (await loss.data())[0]!;
    } finally {
      loss.dispose();
    }
  }

  /** The stage's parameters now, one flat copy per tensor of its specs (local mode's deltas). */
  async readParams(): Promise<Float32Array[]> {
    return Promise.all(this.vars.map(async (v) => (await v.data()) as Float32Array));
  }

  /** Drops every micro-batch in flight and every step's partial gradient (the replica dissolved, its steps are abandoned). */
  abandonStep(): void {
    for (const f of this.inFlight.values()) f.x.dispose();
    this.inFlight.clear();
    this.versions.clear();
    for (const p of this.sums.values()) p.forEach((t) => t.dispose());
    for (const t of this.lossSums.values()) t.dispose();
    this.sums.clear();
    this.lossSums.clear();
  }

  dispose(): void {
    this.abandonStep();
    this.versions.dispose();
    this.model.dispose();
  }
}
