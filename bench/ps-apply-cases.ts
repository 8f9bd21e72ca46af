/**
 * What bench ps-apply times, and how: the copy baselines, the gate's norm, each
 * optimizer's apply and push, and the interleaved best-of-calls timing.
 */
import { codecOf, encodeTensors } from '../shared/codec.js';
import { parseJobSpec, type OptimizerType } from '../shared/job-spec.js';
import { sizeOf, type TensorSpec } from '../shared/tensors.js';
import { createApplyEngine, type ApplyEngine, type ApplySettings } from '../server/params/apply-engine.js';
import { COPY_UPDATE } from '../server/params/kernels/copy-update.js';
import { GradientGate, type GradientPayload } from '../server/params/gradient-gate.js';
import { createOptimizer } from '../server/params/optimizers.js';
import { ParameterStore } from '../server/params/parameter-store.js';

/** 784·1000 + 1000 + 1000·214 + 1000 = 1,000,000 parameters. */
const MODEL: TensorSpec[] = [
  { name: 'dense1/kernel', shape: [784, 1000] },
  { name: 'dense1/bias', shape: [1000] },
  { name: 'dense2/kernel', shape: [1000, 214] },
  { name: 'dense2/bias', shape: [1000] },
];
export const PARAMS = MODEL.reduce((n, s) => n + sizeOf(s.shape), 0);
export const OPTIMIZERS: readonly OptimizerType[] = ['sgd', 'adagrad', 'adam'];

/** Something timed: its fastest single call so far. */
export interface Timed {
  fn: () => void;
  bestNs: number;
}

/** A case on an engine, and how many threads that engine had when the case was built. */
interface OnEngine extends Timed {
  engine: ApplyEngine;
  threads: number;
}

/**
 * A gradient of small, varied values (realistic magnitudes, no denormals, no NaN);
 * `phase` makes each push's different.
 */
const gradient = (phase: number) => MODEL.map((s) => Float32Array.from({ length: sizeOf(s.shape) }, (_, i) => Math.cos(i * 0.7 + phase) * 1e-3));

/** One engine's own cases: the copy baseline, and the gate's norm of the same gradient. */
export interface EngineCases {
  copy: OnEngine;
  /** engine.scratchNorm over the gradient the copy reads: in cache, as `apply` is. */
  norm: Timed;
}

/**
 * The baseline on one engine: every tensor's scratch (the source, holding a gradient)
 * copied into its values, by the engine as it runs an apply (copy-update.ts); and the
 * norm of that scratch, as the gradient gate takes it.
 */
export function engineCases(apply: ApplySettings): EngineCases {
  const engine = createApplyEngine(apply, MODEL.flatMap((s) => [sizeOf(s.shape), sizeOf(s.shape)]), MODEL.length, PARAMS);
  const source = gradient(0);
  const tensors = MODEL.map((s, i) => {
    const values = engine.alloc(sizeOf(s.shape));
    const scratch = engine.alloc(sizeOf(s.shape));
    scratch.set(source[i]!);
    return { values, scratch, slots: [] };
  });
  const copy = { fn: () => engine.apply(COPY_UPDATE, tensors, 1, 1), bestNs: Infinity, engine, threads: engine.threads };
  const norm = () => {
    if (!Number.isFinite(engine.scratchNorm(tensors))) throw new Error('the bench gradient has a non-finite norm');
  };
  return { copy, norm: { fn: norm, bestNs: Infinity } };
}

/** Encoded fp32 gradients that the push cases take in turn. */
export interface PushRing {
  readonly payloads: number;
  next(): GradientPayload;
}

/**
 * At least `mb` MB of distinct fp32 payloads, taken in turn by every push case: a
 * payload comes round again only after all the others were read, so a push never finds
 * its bytes in a cache smaller than `mb` (a real push arrives in a fresh buffer).
 */
export function pushRing(mb: number): PushRing {
  const count = Math.ceil((mb * 2 ** 20) / (PARAMS * 4)) + 1;
  const ring = Array.from({ length: count }, (_, k) => {
    const values = gradient(k + 1);
    const { manifest, data } = encodeTensors(MODEL.map((s, i) => ({ name: s.name, shape: s.shape, values: values[i]! })), 'fp32');
    return { manifest, data, batches: 1 };
  });
  let next = 0;
  return {
    payloads: count,
    next: () => ring[(next = (next + 1) % count)]!,
  };
}

/** One optimizer's store on one engine, and its two cases. */
export interface StoreCases {
  optimizer: OptimizerType;
  store: ParameterStore;
  engine: ApplyEngine;
  threads: number;
  /** store.applyScratch() alone: the gradient was decoded once, and stays in cache. */
  apply: Timed;
  /** The coordinator's push path: the gradient gate decodes the next payload into scratch and checks it, then the apply. */
  push: Timed;
}

export function storeCases(optimizer: OptimizerType, apply: ApplySettings, ring: PushRing): StoreCases {
  const spec = parseJobSpec({ codec: 'fp32', optimizer: { type: optimizer, learningRate: 1e-6 } });
  if (!spec.ok) throw new Error(spec.message);
  const initial = MODEL.map((s) => Float32Array.from({ length: sizeOf(s.shape) }, (_, i) => Math.sin(i) * 0.05));
  const store = new ParameterStore(MODEL, initial, createOptimizer(spec.value.optimizer), { apply });
  const start = gradient(0);
  store.tensors.forEach((t, i) => t.scratch.set(start[i]!));
  // As a job builds its gate (the spec's norm bound, 10, on; no reference norm: the window fills from the pushes).
  const gate = new GradientGate(store, codecOf(spec.value), spec.value.normBound, null);
  const push = () => {
    const refused = gate.check(ring.next(), 'bench-worker');
    if (refused) throw new Error(`the gate refused a bench push: ${refused.code} ${refused.message}`);
    store.applyScratch();
  };
  return {
    optimizer,
    store,
    engine: store.engine,
    threads: store.engine.threads,
    apply: { fn: () => store.applyScratch(), bestNs: Infinity },
    push: { fn: push, bestNs: Infinity },
  };
}

/**
 * The fastest single call of each case, timing every call alone, over `runs` rounds
 * in which every case takes `iterations` calls in turn. Per call, not per run: on a
 * shared machine a 4 ms copy run fits between two preemptions while a 200 ms
 * optimizer run does not, which would flatter the copy. Interleaved rounds: this
 * machine's speed drifts by ±20 % over seconds (other tenants), and every case,
 * the copy included, gets the same windows.
 */
export function timeInterleaved(cases: readonly Timed[], iterations: number, runs: number): void {
  for (const c of cases) for (let i = 0; i < Math.max(3, iterations >> 2); i++) c.fn(); // let the JIT optimise first
  for (let r = 0; r < runs; r++) {
    for (const c of cases) {
      for (let n = 0; n < iterations; n++) {
        const t0 = process.hrtime.bigint();
        c.fn();
        const ns = Number(process.hrtime.bigint() - t0);
        if (ns < c.bestNs) c.bestNs = ns;
      }
    }
  }
}
