/**
 * Where a parameter store's arrays live and what runs its optimizer and takes a push's
 * norm: the WebAssembly SIMD kernels over a shared arena (the default), split over the
 * apply pool for large models, or the JavaScript reference loops. Results agree to
 * float32 rounding (tested); the choice is about speed (bench ps-apply).
 */
import { availableParallelism } from 'node:os';
import { ApplyPool, sharedApplyPool, type PoolArena } from './kernels/apply-pool.js';
import { CHUNK } from './kernels/apply-share.mjs';
import { KernelArena } from './kernels/kernel-arena.js';
import { kernelModule } from './kernels/kernel-module.js';
import type { Optimizer } from './optimizer.js';
import { createLogger } from '../logger.js';

const log = createLogger('apply-engine');

export interface ApplySettings {
  /** 'wasm': SIMD kernels, falling back to 'js' where the runtime lacks them; 'js': the reference loops. */
  kernels: 'wasm' | 'js';
  /** Threads that share one apply of a large model; 1 keeps it on the event loop. */
  threads: number;
  /** Models with fewer parameters apply on the event loop: waking the pool would cost more than it saves. */
  parallelFromParams: number;
}

export const DEFAULT_APPLY_SETTINGS: ApplySettings = {
  kernels: 'wasm',
  threads: Math.min(4, availableParallelism()),
  parallelFromParams: 262_144,
};

/**
 * A ps task's default: its event loop applies alone. A task shares its host's cores
 * with its own receive path and garbage collector (most of its CPU per push) and,
 * under `npm start -- --ps N`, with its sibling tasks, so helpers that split an apply
 * mostly add wake-ups and polling: on 2 cores, bench ps-scale measured 21.7 CPU-ms
 * per push on 1 task with the pool and 17.1 without (docs/cluster.md, "ps-scale").
 */
export const PS_TASK_APPLY_SETTINGS: ApplySettings = { ...DEFAULT_APPLY_SETTINGS, threads: 1 };

/**
 * What an engine runs of an update: the reference loop or the kernel call. Every
 * optimizer is one; so is the copy bench ps-apply measures them against (kernels/copy-update.ts).
 */
export type ApplyUpdate = Pick<Optimizer, 'apply' | 'kernelStep'>;

/** The arrays one apply writes, per tensor (the gradient it reads is passed beside them). */
export interface ApplyTensor {
  values: Float32Array;
  slots: Float32Array[];
}

export interface ApplyEngine {
  /** What actually runs: 'js' also where 'wasm' was asked for but is unavailable. */
  readonly kernels: 'wasm' | 'js';
  readonly threads: number;
  /** A zeroed array of `size` floats that `apply` may update; call once per array, for the sizes given at creation. */
  alloc(size: number): Float32Array;
  /**
   * One update over every tensor (an optimizer step: values updated from `gradient`,
   * slots advanced). `gradient[k]` is tensor k's, as long as its values; on 'wasm' it
   * must be an array this engine allocated.
   */
  apply(update: ApplyUpdate, tensors: readonly ApplyTensor[], gradient: readonly Float32Array[], step: number, lrScale: number): void;
  /**
   * The L2 norm of every array of `gradient` together, from a float64 sum of squares:
   * NaN or Infinity exactly when some value is (float32 squares cannot overflow
   * float64). On 'wasm' the arrays must be ones this engine allocated.
   */
  norm(gradient: readonly Float32Array[]): number;
  /** Releases the pool's hold on the arena; later applies (if any) run on the event loop. */
  dispose(): void;
}

/** `sizes`: every array the store will alloc, in any order; `tensors`: how many tensors one apply covers. */
export function createApplyEngine(settings: ApplySettings, sizes: readonly number[], tensors: number, parameters: number): ApplyEngine {
  const module = settings.kernels === 'wasm' ? kernelModule() : null;
  const arena = module && KernelArena.create(module, sizes);
  if (!module || !arena) return jsEngine;
  const pool = settings.threads >= 2 && parameters >= settings.parallelFromParams ? sharedApplyPool(settings.threads, module) : null;
  return new WasmApplyEngine(arena, pool, tensors, Math.ceil(parameters / CHUNK) + tensors);
}

/** No per-apply constants: the sumsq kernel takes none. */
const NO_CONSTANTS = [0, 0, 0, 0, 0, 0] as const;

const jsEngine: ApplyEngine = {
  kernels: 'js',
  threads: 1,
  alloc: (size) => new Float32Array(size),
  apply(update, tensors, gradient, step, lrScale) {
    for (let k = 0; k < tensors.length; k++) update.apply(tensors[k]!.values, gradient[k]!, tensors[k]!.slots, step, lrScale);
  },
  /** The reference: one float64 sum in element order (each square is exact; only the sum rounds). */
  norm(gradient) {
    let sum = 0;
    for (const g of gradient) {
      for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
    }
    return Math.sqrt(sum);
  },
  dispose() {},
};

class WasmApplyEngine implements ApplyEngine {
  readonly kernels = 'wasm';
  private poolArena: PoolArena | null;

  constructor(
    private readonly arena: KernelArena,
    private pool: ApplyPool | null,
    tensors: number,
    maxChunks: number,
  ) {
    this.poolArena = pool ? pool.attach(arena.memory, arena.kernels, tensors, maxChunks) : null;
  }

  get threads(): number {
    return this.pool && !this.pool.broken ? this.pool.threads : 1;
  }

  alloc(size: number): Float32Array {
    return this.arena.alloc(size);
  }

  /** A slot's byte offset; 0 for a slot the optimizer does not have (the kernel ignores it). */
  private readonly at = (a: Float32Array | undefined) => (a ? this.arena.offsetOf(a) : 0);

  apply(update: ApplyUpdate, tensors: readonly ApplyTensor[], gradient: readonly Float32Array[], step: number, lrScale: number): void {
    const { kernel, constants } = update.kernelStep(step, lrScale);
    const at = this.at;
    const pool = this.pool;
    const poolArena = this.poolArena;
    if (pool && poolArena && !pool.broken) {
      for (let k = 0; k < tensors.length; k++) {
        const t = tensors[k]!;
        ApplyPool.setCall(poolArena, k, kernel, at(t.values), at(gradient[k]), at(t.slots[0]), at(t.slots[1]), t.values.length, constants);
      }
      try {
        pool.run(poolArena, tensors.length);
        return;
      } catch (err) {
        // Not rethrown: applies also run from timers (a sync round's deadline), where a
        // throw would end the coordinator. Each element was either updated or not, so the
        // parameters stay consistent, if this once not fully updated.
        log.error('apply pool failed; this apply may be partial, later ones run on the event loop', { err });
        this.pool = null;
        this.poolArena = null;
        return;
      }
    }
    const fn = this.arena.kernels[kernel];
    const [c0, c1, c2, c3, c4, c5] = constants;
    for (let k = 0; k < tensors.length; k++) {
      const t = tensors[k]!;
      fn(at(t.values), at(gradient[k]), at(t.slots[0]), at(t.slots[1]), t.values.length, c0, c1, c2, c3, c4, c5);
    }
  }

  /**
   * The sumsq kernel chunk by chunk (apply-share.mjs's CHUNK), its sums added in chunk
   * order: on the pool's threads or on the event loop, the same additions. The pool's
   * result is only read, so a pool that fails leaves nothing half done: the event loop
   * sums it all again. Relative error of the sum of squares: at most (CHUNK/8 + 18 +
   * chunks)·2⁻⁵³, 2.6e-13 for 4M parameters (the reference loop's bound: n·2⁻⁵³).
   */
  norm(gradient: readonly Float32Array[]): number {
    const at = this.at;
    const pool = this.pool;
    const poolArena = this.poolArena;
    if (pool && poolArena && !pool.broken) {
      for (let k = 0; k < gradient.length; k++) {
        const g = gradient[k]!;
        ApplyPool.setCall(poolArena, k, 'sumsq', 0, at(g), 0, 0, g.length, NO_CONSTANTS);
      }
      try {
        return Math.sqrt(pool.sum(poolArena, gradient.length));
      } catch (err) {
        log.error('apply pool failed; this norm and later applies run on the event loop', { error: String(err) });
        this.pool = null;
        this.poolArena = null;
      }
    }
    const sumsq = this.arena.kernels.sumsq;
    let sum = 0;
    for (const array of gradient) {
      const g = at(array);
      const n = array.length;
      for (let start = 0; start < n; start += CHUNK) sum += sumsq(0, g + start * 4, 0, 0, Math.min(CHUNK, n - start), 0, 0, 0, 0, 0, 0);
    }
    return Math.sqrt(sum);
  }

  dispose(): void {
    if (this.pool && this.poolArena && !this.pool.broken) this.pool.detach(this.poolArena);
    this.pool = null;
    this.poolArena = null;
  }
}
