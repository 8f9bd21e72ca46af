/**
 * Model parallelism's plan: what each layer of a model costs, and how to cut the layer
 * list into contiguous stages, one per worker of a replica, so that the pipeline's
 * slowest stage is as fast as it can be (GPipe's throughput is set by its slowest
 * stage). The coordinator sizes the layers from the topology JSON alone
 * (server/jobs/topology/topology-census.ts traces each layer's shapes and weights);
 * the arithmetic that turns that trace into costs, and the planner, live here so the
 * dashboard and the bench can show the same figures. docs/model-parallelism.md has the
 * design around it.
 */
import { ErrorCode } from './errors.js';
import { fail, ok, type Result } from './result.js';

/** A tensor's shape without the batch dimension; null where the topology leaves it open. */
export type LayerShape = readonly (number | null)[];

/** One layer as the topology census saw it: its class, its shapes per example and the weights tfjs allocates for it. */
export interface LayerTrace {
  name: string;
  className: string;
  inputs: readonly LayerShape[];
  outputs: readonly LayerShape[];
  /** Every weight it holds, trainable or not. */
  parameters: number;
  /** Its data_format is channels_first (channels lead its shapes instead of closing them). */
  channelsFirst: boolean;
}

export interface LayerCost {
  name: string;
  /** Floating-point operations per example, forward and backward. */
  flops: number;
  /** Bytes of its weights as fp32: what a stage holding it keeps in memory, pulls and pushes. */
  paramBytes: number;
  /** Its input's shape per example: a stage starting here is built to take it. */
  inputShape: LayerShape;
  /** Values per example of its first output: what crosses to the next stage when a cut follows it. */
  outputValues: number;
}

/** A multiply and an add per weight per place it is applied. */
const FLOPS_PER_MAC = 2;
/** Backward computes the input's gradient and the weights' gradient, each about a forward's work. */
const WEIGHTED_PASSES = 3;
/** A layer without weights (pooling, activation, flatten) runs its one backward about as long as its forward. */
const PLAIN_PASSES = 2;
const BYTES_PER_PARAM = 4;

/** Layers whose weights are applied once per time step (and per position of a ConvLSTM2D frame). */
const RECURRENT = new Set(['SimpleRNN', 'GRU', 'LSTM', 'Bidirectional', 'ConvLSTM2D']);
/** Layers with weights that are not multiplied into their input: a lookup table, per-channel scales. */
const NOT_MULTIPLIED = new Set(['Embedding', 'BatchNormalization', 'LayerNormalization', 'PReLU']);

const values = (shape: LayerShape) => shape.reduce<number>((n, d) => n * (d ?? 1), 1);

/**
 * Where a layer's weights are applied, per example: a Dense on [T, f] applies its kernel
 * at T places, a convolution at every output pixel, an RNN at every time step.
 */
function placesApplied(layer: LayerTrace): number {
  const input = layer.inputs[0] ?? [];
  if (RECURRENT.has(layer.className)) return (input[0] ?? 1) * values(input.slice(1, -1));
  const out = layer.outputs[0] ?? [];
  const spatial = layer.channelsFirst ? out.slice(1) : out.slice(0, -1);
  return values(spatial);
}

/**
 * A layer's cost from its trace. Multiplying layers (Dense, convolutions, RNNs) cost
 * 2 × weights × places forward and three times that with backward; the rest cost a
 * read of their inputs and a write of their outputs each way, so a stage of pooling
 * is cheap but not free. An estimate (padding's edges are not subtracted), meant for
 * comparing layers, which is all the planner needs.
 */
export function layerCost(layer: LayerTrace): LayerCost {
  const weighted = layer.parameters > 0 && !NOT_MULTIPLIED.has(layer.className);
  const touched = [...layer.inputs, ...layer.outputs].reduce((n, s) => n + values(s), 0);
  const flops = weighted ? WEIGHTED_PASSES * FLOPS_PER_MAC * layer.parameters * placesApplied(layer) : PLAIN_PASSES * touched;
  return { name: layer.name, flops, paramBytes: layer.parameters * BYTES_PER_PARAM, inputShape: layer.inputs[0] ?? [], outputValues: values(layer.outputs[0] ?? []) };
}

/**
 * Costs of a Sequential model's layers, checked against the dataset's example shape:
 * a stage plan for a model that does not take these examples would fail in every tab.
 */
export function layerCosts(trace: readonly LayerTrace[], featureShape: readonly number[]): Result<{ costs: LayerCost[] }> {
  // An InputLayer only declares the shape; tfjs's Sequential does not list it among its layers either.
  const layers = trace.filter((l) => l.className !== 'InputLayer');
  const first = layers[0]?.inputs[0];
  if (!first) return fail(ErrorCode.BAD_REQUEST, 'The topology has no layers');
  if (first.length !== featureShape.length || first.some((d, i) => d !== featureShape[i])) {
    return fail(ErrorCode.BAD_REQUEST, `The model's input is [${first}], the dataset's examples are [${featureShape}]`);
  }
  return ok({ costs: layers.map(layerCost) });
}

export interface PlannedStage {
  /** Index of its worker in the speeds the plan was given. */
  worker: number;
  /** Its layers: [from, to) of the model's layer list. */
  from: number;
  to: number;
  /** One example's shape as it enters (the features for the first stage): what StageTrainer builds its first layer for. */
  inputShape: LayerShape;
  flops: number;
  paramBytes: number;
  /** Seconds per example it takes on its worker. */
  secondsPerExample: number;
  /** Values per example it sends to the next stage (0 for the last). */
  sendsValues: number;
}

export interface StagePlan {
  stages: PlannedStage[];
  /** The slowest stage's seconds per example: the replica's pipelined rate is its inverse. */
  bottleneck: number;
}

export interface StagePlanOptions {
  /** Most parameter bytes one worker may hold; default: no bound. */
  maxWorkerParamBytes?: number;
}

/** Workers of one replica the planner accepts: it tries every order of them (2^K states). */
export const MAX_STAGES = 8;

function checkCosts(costs: readonly LayerCost[]): string | null {
  const bad = costs.find((c) => !(Number.isFinite(c.flops) && c.flops >= 0 && Number.isFinite(c.paramBytes) && c.paramBytes >= 0));
  return bad ? `layer "${bad.name}" has a cost that is not a finite non-negative number` : null;
}

/**
 * The fewest contiguous stages that keep every stage's weights within
 * `maxWorkerParamBytes`, or a refusal naming the layer that alone exceeds it.
 */
export function stagesNeeded(costs: readonly LayerCost[], maxWorkerParamBytes: number): Result<{ stages: number }> {
  if (!(maxWorkerParamBytes > 0)) return fail(ErrorCode.BAD_REQUEST, `maxWorkerParamBytes must be positive, got ${maxWorkerParamBytes}`);
  const invalid = checkCosts(costs);
  if (invalid) return fail(ErrorCode.BAD_REQUEST, invalid);
  if (costs.length === 0) return fail(ErrorCode.BAD_REQUEST, 'The model has no layers');
  const whole = costs.find((c) => c.paramBytes > maxWorkerParamBytes);
  if (whole) return fail(ErrorCode.MODEL_TOO_LARGE, `layer "${whole.name}" alone holds ${whole.paramBytes} parameter bytes; a worker may hold ${maxWorkerParamBytes}`);
  // Filling each stage as far as it goes is optimal: a cut taken later never forces an extra stage.
  let stages = 1;
  let held = 0;
  for (const c of costs) {
    if (held + c.paramBytes > maxWorkerParamBytes) {
      stages++;
      held = 0;
    }
    held += c.paramBytes;
  }
  return ok({ stages });
}

/**
 * Cuts the layers into one contiguous stage per worker, minimising the slowest stage's
 * time. `examplesPerSecond[w]` is worker w's measured rate on the whole model, so its
 * speed is that × the model's FLOPs per example and a stage of F FLOPs takes
 * F / (rate × total) seconds per example on it. The workers' order along the pipeline
 * is chosen too: dynamic programming over (the set of workers placed, the layers
 * covered), exact, O(2^K · K · L²) for K workers and L layers.
 */
export function planStages(costs: readonly LayerCost[], examplesPerSecond: readonly number[], options: StagePlanOptions = {}): Result<StagePlan> {
  const maxBytes = options.maxWorkerParamBytes ?? Infinity;
  const k = examplesPerSecond.length;
  const n = costs.length;
  const invalid = checkCosts(costs);
  if (invalid) return fail(ErrorCode.BAD_REQUEST, invalid);
  if (!(maxBytes > 0)) return fail(ErrorCode.BAD_REQUEST, `maxWorkerParamBytes must be positive, got ${maxBytes}`);
  const slow = examplesPerSecond.findIndex((r) => !(Number.isFinite(r) && r > 0));
  if (slow >= 0) return fail(ErrorCode.BAD_REQUEST, `worker ${slow}'s rate must be a positive number of examples per second, got ${examplesPerSecond[slow]}`);
  if (k === 0) return fail(ErrorCode.BAD_REQUEST, 'A plan needs at least one worker');
  if (k > MAX_STAGES) return fail(ErrorCode.BAD_REQUEST, `${k} stages asked for; at most ${MAX_STAGES}`);
  if (k > n) return fail(ErrorCode.BAD_REQUEST, `${k} stages asked for, but the model has ${n} layers: a stage needs at least one`);

  const flopsUpTo = [0];
  const bytesUpTo = [0];
  costs.forEach((c, i) => {
    flopsUpTo.push(flopsUpTo[i]! + c.flops);
    bytesUpTo.push(bytesUpTo[i]! + c.paramBytes);
  });
  const total = flopsUpTo[n]! || 1;
  const seconds = (w: number, from: number, to: number) => (flopsUpTo[to]! - flopsUpTo[from]!) / (examplesPerSecond[w]! * total);

  const states = 1 << k;
  const full = states - 1;
  /**
   * best[set][end]: the least slowest-stage time covering layers [0, end) with the
   * workers in set, each a non-empty stage; came: where that stage began and whose it
   * is. In the given order only, or in every order; a stage slower than `bound` is not
   * tried (stage times only grow with more layers, so the loop over ends stops there).
   */
  const search = (givenOrder: boolean, bound: number) => {
    const best = Array.from({ length: states }, () => new Float64Array(n + 1).fill(Infinity));
    const came = Array.from({ length: states }, () => new Int32Array(n + 1).fill(-1));
    best[0]![0] = 0;
    for (let set = 0; set < states; set++) {
      for (let end = 0; end < n; end++) {
        const sofar = best[set]![end]!;
        if (sofar > bound) continue;
        for (let w = 0; w < k; w++) {
          if (set & (1 << w) || (givenOrder && set !== (1 << w) - 1)) continue;
          const next = set | (1 << w);
          for (let to = end + 1; to <= n && bytesUpTo[to]! - bytesUpTo[end]! <= maxBytes; to++) {
            const own = seconds(w, end, to);
            if (own > bound) break;
            const t = Math.max(sofar, own);
            if (t < best[next]![to]!) {
              best[next]![to] = t;
              came[next]![to] = end * k + w;
            }
          }
        }
      }
    }
    return { best, came };
  };
  // The given order's best is cheap (its states are a chain) and bounds the search over every order.
  const bound = search(true, Infinity).best[full]![n]!;
  const { best, came } = bound === Infinity ? search(true, Infinity) : search(false, bound);
  if (best[full]![n] === Infinity) {
    const needed = maxBytes === Infinity ? null : stagesNeeded(costs, maxBytes);
    const why = needed?.ok ? `it needs at least ${needed.stages}` : needed ? needed.message : 'no split fits';
    return fail(ErrorCode.MODEL_TOO_LARGE, `No split of ${n} layers into ${k} stages keeps every stage within ${maxBytes} parameter bytes: ${why}`);
  }
  const stages: PlannedStage[] = [];
  for (let set = full, to = n; set !== 0; ) {
    const from = Math.floor(came[set]![to]! / k);
    const worker = came[set]![to]! % k;
    stages.unshift({
      worker,
      from,
      to,
      inputShape: costs[from]!.inputShape,
      flops: flopsUpTo[to]! - flopsUpTo[from]!,
      paramBytes: bytesUpTo[to]! - bytesUpTo[from]!,
      secondsPerExample: seconds(worker, from, to),
      sendsValues: to === n ? 0 : costs[to - 1]!.outputValues,
    });
    set &= ~(1 << worker);
    to = from;
  }
  return ok({ stages, bottleneck: best[full]![n]! });
}
