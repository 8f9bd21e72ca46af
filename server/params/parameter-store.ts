/**
 * Versioned model parameters, one Float32Array per tensor (so tensors can later be
 * spread over several PS shards, as replica_device_setter spreads variables over ps
 * tasks). Holds the optimizer state beside each tensor and one gradient buffer (an
 * array per tensor) that pushes decode into, so applying a push allocates nothing.
 * All of them live where the apply engine's kernels update them in place
 * (apply-engine.ts).
 */
import { encodeTensors, type TensorPayload } from '../../shared/codec.js';
import { diffParams, type DeltaManifest } from '../../shared/param-delta.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { Gradient } from './gradient.js';
import type { Optimizer } from './optimizer.js';
import { createApplyEngine, DEFAULT_APPLY_SETTINGS, type ApplyEngine, type ApplySettings } from './apply-engine.js';

export interface ParameterStoreOptions {
  /**
   * How many pulled versions to keep for delta pulls (0: none). Only worth it when
   * updates are sparse, see shared/param-delta.ts.
   */
  keepVersions?: number;
  /** Which kernels apply the optimizer, on how many threads. */
  apply?: ApplySettings;
}

export interface StoredTensor {
  spec: TensorSpec;
  values: Float32Array;
  slots: Float32Array[];
}

export class ParameterStore {
  readonly tensors: StoredTensor[];
  /**
   * One array per tensor in the apply engine's arena: a gradient whose views are these
   * is applied where it lies. The gradient gate decodes pushes into it and a sync
   * round writes its aggregate into it; its contents are whoever wrote last's, so a
   * gradient kept across a write must be copied out (see DecodedGradient).
   */
  readonly gradientBuffer: readonly Float32Array[];
  private currentVersion = 0;
  private applies = 0;
  private cachedPayload: { version: number; payload: TensorPayload } | null = null;
  /** Encoded versions that were pulled, oldest first, kept as the bases of delta pulls. */
  private readonly pulled = new Map<number, TensorPayload>();
  private cachedDelta: { since: number; version: number; delta: ParamsDelta | null } | null = null;
  private readonly deltaScratch = { indices: new Uint32Array(0) };
  private readonly keepVersions: number;
  readonly engine: ApplyEngine;

  constructor(
    readonly specs: readonly TensorSpec[],
    initial: readonly Float32Array[],
    readonly optimizer: Optimizer,
    options: ParameterStoreOptions = {},
  ) {
    if (initial.length !== specs.length) {
      throw new Error(`ParameterStore got ${initial.length} initial tensors for ${specs.length} specs`);
    }
    this.keepVersions = options.keepVersions ?? 0;
    const sizes = specs.map((spec, i) => {
      const size = sizeOf(spec.shape);
      if (initial[i]!.length !== size) {
        throw new Error(`Initial value of ${spec.name} has ${initial[i]!.length} elements, shape [${spec.shape}] needs ${size}`);
      }
      return size;
    });
    const arrays = sizes.flatMap((size) => Array<number>(2 + optimizer.slotNames.length).fill(size));
    const parameters = sizes.reduce((a, b) => a + b, 0);
    this.engine = createApplyEngine(options.apply ?? DEFAULT_APPLY_SETTINGS, arrays, specs.length, parameters);
    const alloc = (size: number) => this.engine.alloc(size);
    const gradientBuffer: Float32Array[] = [];
    this.tensors = specs.map((spec, i) => {
      const values = alloc(sizes[i]!);
      values.set(initial[i]!);
      const slots = optimizer.createSlots(sizes[i]!, alloc);
      gradientBuffer.push(alloc(sizes[i]!));
      return { spec: { name: spec.name, shape: [...spec.shape] }, values, slots };
    });
    this.gradientBuffer = gradientBuffer;
  }

  get version(): number {
    return this.currentVersion;
  }

  /** Optimizer steps taken (the step count Adam's bias correction reads); a checkpoint carries it. */
  get applyCount(): number {
    return this.applies;
  }

  get parameterCount(): number {
    return this.tensors.reduce((n, t) => n + t.values.length, 0);
  }

  /**
   * Applies `gradient` with the learning rate times `lrScale` and publishes a new
   * version. A gradient in the gradient buffer is applied where it lies; any other is
   * first copied there (tests, benches: the push path never needs the copy).
   */
  apply(gradient: Gradient, lrScale = 1): number {
    this.engine.apply(this.optimizer, this.tensors, this.inBuffer(gradient), this.applies + 1, lrScale);
    this.applies += 1;
    this.currentVersion += 1;
    return this.currentVersion;
  }

  /**
   * The L2 norm of `gradient`: NaN or Infinity when any value is not finite. The apply
   * engine's: a SIMD kernel, on the pool's threads for large models; or, on the 'js'
   * engine, the reference loop. Like apply, it reads the gradient buffer.
   */
  norm(gradient: Gradient): number {
    return this.engine.norm(this.inBuffer(gradient));
  }

  /**
   * The L2 norm of tensors [from, to) of the gradient buffer (a stage's part of a
   * replica step's gradient, decoded there by the gate), as norm() takes it.
   */
  bufferNorm(from: number, to: number): number {
    const buffer = this.gradientBuffer;
    return this.engine.norm(from === 0 && to === buffer.length ? buffer : buffer.slice(from, to));
  }

  /** The gradient buffer holding `gradient`: as it is, or with `gradient` copied in. */
  private inBuffer(gradient: Gradient): readonly Float32Array[] {
    const buffer = this.gradientBuffer;
    const views = gradient.views;
    if (views.length !== buffer.length) throw new Error(`A gradient of ${views.length} tensors for a store of ${buffer.length}`);
    for (let k = 0; k < buffer.length; k++) {
      if (views[k] === buffer[k]) continue;
      if (views[k]!.length !== buffer[k]!.length) throw new Error(`Gradient of "${this.tensors[k]!.spec.name}" has ${views[k]!.length} elements, the tensor ${buffer[k]!.length}`);
      buffer[k]!.set(views[k]!);
    }
    return buffer;
  }

  /** The current parameters, encoded once per version however many workers pull. */
  payload(): { version: number; payload: TensorPayload } {
    if (this.cachedPayload?.version !== this.currentVersion) {
      const payload = encodeTensors(this.tensors.map((t) => ({ name: t.spec.name, shape: t.spec.shape, values: t.values })));
      this.cachedPayload = { version: this.currentVersion, payload };
      if (this.keepVersions > 0) {
        this.pulled.set(this.currentVersion, payload);
        if (this.pulled.size > this.keepVersions) this.pulled.delete(this.pulled.keys().next().value!);
      }
    }
    return this.cachedPayload;
  }

  /**
   * The changes since `since`, a version this store sent in full and still keeps, when
   * they are smaller than the full payload; otherwise null. Workers at the same
   * version share one computed delta.
   */
  delta(since: number): ParamsDelta | null {
    const base = this.pulled.get(since);
    if (!base) return null;
    this.payload(); // keeps the version sent as a base for the worker's next delta
    const version = this.currentVersion;
    if (this.cachedDelta?.since !== since || this.cachedDelta.version !== version) {
      const delta = diffParams(base, this.tensors.map((t) => t.values), since, this.deltaScratch);
      this.cachedDelta = { since, version, delta: delta && { version, ...delta } };
    }
    return this.cachedDelta.delta;
  }

  /** Copies of the parameters (for evaluation off the event loop). */
  copyValues(): Float32Array[] {
    return this.tensors.map((t) => t.values.slice());
  }

  /** A consistent copy of parameters and optimizer state (for a checkpoint). */
  snapshot(): StoreSnapshot {
    return {
      version: this.currentVersion,
      applies: this.applies,
      tensors: this.tensors.map((t) => ({ name: t.spec.name, shape: [...t.spec.shape], values: t.values.slice(), slots: t.slots.map((s) => s.slice()) })),
    };
  }

  /** Lets go of the apply pool (job deleted, coordinator closing); applies still work, on the event loop. */
  dispose(): void {
    this.engine.dispose();
  }

  /** Loads a checkpoint's state; the shapes must be this store's. */
  restore(snap: StoreSnapshot): void {
    if (snap.tensors.length !== this.tensors.length) throw new Error(`Checkpoint has ${snap.tensors.length} tensors, the model ${this.tensors.length}`);
    snap.tensors.forEach((s, i) => {
      const t = this.tensors[i]!;
      if (s.values.length !== t.values.length || s.slots.length !== t.slots.length) {
        throw new Error(`Checkpoint tensor ${i} does not fit "${t.spec.name}"`);
      }
      t.values.set(s.values);
      s.slots.forEach((slot, k) => t.slots[k]!.set(slot));
    });
    this.currentVersion = snap.version;
    this.applies = snap.applies;
    this.cachedPayload = null;
    this.pulled.clear();
    this.cachedDelta = null;
  }
}

export interface ParamsDelta {
  version: number;
  manifest: DeltaManifest;
  data: Uint8Array;
}

export interface StoreSnapshot {
  version: number;
  applies: number;
  /** `name` and `shape` are absent in checkpoints written before they were recorded. */
  tensors: { name?: string; shape?: number[]; values: Float32Array; slots: Float32Array[] }[];
}
