/**
 * Threads that share one optimizer apply. Even as SIMD kernels (ps-kernels.wat),
 * Adagrad and Adam get through a quarter of what SGD does per core; a large model's
 * apply split over the cores finishes nearly proportionally sooner (bench ps-apply).
 * Like TensorFlow's parameter server, which runs an apply op on its intra-op pool.
 *
 * The event loop is thread 0: it wakes the helpers, runs its part of the apply like
 * them (apply-share.mjs), then waits for the helpers' last chunks (an apply takes well
 * under a millisecond; a push handler is synchronous anyway). Helpers poll briefly
 * for the next command, then sleep in Atomics.wait.
 */
import { Worker } from 'node:worker_threads';
import { KERNEL_NAMES, type KernelExports, type KernelFn, type KernelName } from './kernel-module.js';
import { applyShare, CALL_FIELDS } from './apply-share.mjs';
import { createLogger } from '../../logger.js';

const log = createLogger('apply-pool');

/** Int32 fields of the control block shared with every helper. */
const GEN = 0;
const DONE = 1;
const TARGET = 2;
const FAILED = 3;
/** The next chunk of the shared tail to take (apply-share.mjs). */
const NEXT = 4;
/**
 * How long the event loop polls for the helpers' last chunks before it sleeps: they
 * finish within microseconds of it, and a futex sleep and wake-up costs tens of them.
 */
const SPIN_MS = 0.05;

/** An arena attached to the pool: the helpers know its memory and read its calls here. */
export interface PoolArena {
  readonly id: number;
  /** [call count, then CALL_FIELDS per call]. */
  readonly commands: Float64Array;
  /** The event loop's own instance of the kernels over the arena's memory, by kernel index. */
  readonly kernels: readonly KernelFn[];
}

export class ApplyPool {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(5 * Int32Array.BYTES_PER_ELEMENT));
  private readonly helpers: Worker[];
  private nextId = 1;
  /** Why the pool stopped taking work (a helper did not answer); null while healthy. */
  broken: string | null = null;

  constructor(
    readonly threads: number,
    module: WebAssembly.Module,
    private readonly timeoutMs = 30_000,
  ) {
    if (!Number.isInteger(threads) || threads < 2) throw new Error(`ApplyPool needs at least 2 threads, got ${threads}`);
    this.helpers = Array.from({ length: threads - 1 }, (_, i) => {
      const index = i + 1;
      const w = new Worker(new URL('./apply-helper.mjs', import.meta.url), {
        workerData: { module, ctl: this.ctl, index, helpers: threads - 1, kernelNames: KERNEL_NAMES },
        name: `downpour-apply-${index}`,
      });
      w.on('message', (msg: { type: string; message: string }) => log.error('apply thread failed', { thread: index, error: msg.message }));
      w.on('error', (err) => {
        this.broken ??= `apply thread ${index} died: ${err.message}`;
        log.error('apply thread died', { thread: index, error: err.message });
      });
      w.unref(); // sleeping helpers must not keep the process alive
      return w;
    });
  }

  /**
   * Makes `memory` known to every helper; calls are then written into the returned
   * command buffer. `kernels`: the event loop's instance over the same memory.
   */
  attach(memory: WebAssembly.Memory, kernels: KernelExports, maxCalls: number): PoolArena {
    const id = this.nextId++;
    const commands = new Float64Array(new SharedArrayBuffer((1 + maxCalls * CALL_FIELDS) * Float64Array.BYTES_PER_ELEMENT));
    for (const w of this.helpers) w.postMessage({ type: 'attach', id, memory, commands: commands.buffer });
    return { id, commands, kernels: KERNEL_NAMES.map((name) => kernels[name]) };
  }

  /** Lets the helpers drop their instance over the arena's memory, so it can be freed. */
  detach(arena: PoolArena): void {
    for (const w of this.helpers) w.postMessage({ type: 'detach', id: arena.id });
    if (!this.broken) this.command(0, null);
  }

  /** Writes call `k` of the arena's next apply. */
  static setCall(
    arena: PoolArena,
    k: number,
    kernel: KernelName,
    offsets: [p: number, g: number, a: number, b: number],
    n: number,
    constants: readonly number[],
  ): void {
    const c = arena.commands;
    const o = 1 + k * CALL_FIELDS;
    c[o] = KERNEL_NAMES.indexOf(kernel);
    c.set(offsets, o + 1);
    c[o + 5] = n;
    c.set(constants, o + 6);
  }

  /** Runs the first `calls` calls of the arena's command buffer on every thread; returns when all are done. */
  run(arena: PoolArena, calls: number): void {
    if (this.broken) throw new Error(`apply pool unavailable: ${this.broken}`);
    arena.commands[0] = calls;
    this.command(arena.id, arena);
  }

  close(): Promise<number[]> {
    this.broken ??= 'closed';
    return Promise.all(this.helpers.map((w) => w.terminate()));
  }

  /** Wakes the helpers for `target` (0: messages only), applies the event loop's share of `arena`, waits for theirs. */
  private command(target: number, arena: PoolArena | null): void {
    const ctl = this.ctl;
    const helpers = this.helpers.length;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, TARGET, target);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    let ownError: unknown = null;
    try {
      if (arena) applyShare(arena.kernels, arena.commands, ctl, NEXT, 0, this.threads);
    } catch (err) {
      ownError = err; // still wait: the helpers are writing into the same arena
    }
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, DONE) < helpers && performance.now() < spinUntil);
    const deadline = performance.now() + this.timeoutMs;
    for (let done = Atomics.load(ctl, DONE); done < helpers; done = Atomics.load(ctl, DONE)) {
      const left = deadline - performance.now();
      if (left <= 0) {
        // A helper that never answers may still write later: nothing may use the pool again.
        this.broken = `a helper did not finish within ${this.timeoutMs} ms`;
        throw new Error(`apply pool: ${this.broken}`);
      }
      Atomics.wait(ctl, DONE, done, left);
    }
    if (ownError) throw ownError;
    if (Atomics.load(ctl, FAILED)) throw new Error('apply pool: a helper failed (see the log)');
  }
}

const pools = new Map<number, ApplyPool>();

/** The process's pool of `threads` helpers, started on first use and shared by every job. */
export function sharedApplyPool(threads: number, module: WebAssembly.Module): ApplyPool {
  let pool = pools.get(threads);
  if (!pool || pool.broken) {
    pool = new ApplyPool(threads, module);
    pools.set(threads, pool);
  }
  return pool;
}
