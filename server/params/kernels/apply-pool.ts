/**
 * Threads that share one optimizer apply. Even as SIMD kernels (ps-kernels.wat),
 * Adagrad and Adam get through a quarter of what SGD does per core; a large model's
 * apply split over the cores finishes nearly proportionally sooner (bench ps-apply).
 * Like TensorFlow's parameter server, which runs an apply op on its intra-op pool.
 * A push's norm (the sumsq kernel) splits the same way: each thread leaves the sums of
 * its chunks, and the event loop adds them (sum).
 *
 * The event loop is thread 0: it wakes the helpers, runs its part of the apply like
 * them (apply-share.mjs), then waits for the helpers' last chunks (an apply takes well
 * under a millisecond; a push handler is synchronous anyway). Helpers poll briefly
 * for the next command, then sleep in Atomics.wait.
 *
 * The helpers ("a crew") start on the first apply and are replaced when an arena
 * detaches: a helper that sleeps in Atomics.wait never collects garbage, so only
 * ending the thread frees its instance over a deleted job's memory. A helper that
 * fails, dies or does not answer retires the whole pool: its helpers are terminated
 * and the stores that used it apply on the event loop from then on.
 */
import { Worker } from 'node:worker_threads';
import { KERNEL_NAMES, type KernelExports, type KernelFn, type KernelName } from './kernel-module.js';
import { applyShare, CALL_FIELDS, chunkCount, CTL, sumChunks } from './apply-share.mjs';
import { createLogger } from '../../logger.js';

const log = createLogger('apply-pool');

const { GEN, DONE, TARGET, FAILED, NEXT, READY } = CTL;
/**
 * How long the event loop polls for the helpers' last chunks before it sleeps: they
 * finish within microseconds of it, and a futex sleep and wake-up costs tens of them.
 */
const SPIN_MS = 0.05;

export interface PoolTimeouts {
  /** For a crew's helpers to start (the first apply waits for them). */
  startMs: number;
  /** For the helpers' part of one apply: a 4M-parameter Adam apply takes a few ms. */
  applyMs: number;
}

const DEFAULT_TIMEOUTS: PoolTimeouts = { startMs: 10_000, applyMs: 2_000 };

/** An arena attached to the pool: the helpers know its memory and read its calls here. */
export interface PoolArena {
  readonly id: number;
  /** [call count, then CALL_FIELDS per call]. */
  readonly commands: Float64Array;
  /** Each chunk's kernel result, by chunk index (apply-share.mjs). */
  readonly sums: Float64Array;
  /** The event loop's own instance of the kernels over the arena's memory, by kernel index. */
  readonly kernels: readonly KernelFn[];
}

interface Crew {
  ctl: Int32Array;
  helpers: Worker[];
  /** Set when a helper errs or exits on its own; the next command then retires the pool. */
  lost: string | null;
}

export class ApplyPool {
  private crew: Crew | null = null;
  /** What a new crew must be told: every attached arena's memory, command buffer and chunk sums. */
  private readonly arenas = new Map<number, { memory: WebAssembly.Memory; commands: Float64Array; sums: Float64Array }>();
  private nextId = 1;
  /** Why the pool stopped taking work; null while it works. */
  broken: string | null = null;

  constructor(
    readonly threads: number,
    private readonly module: WebAssembly.Module,
    private readonly timeouts: PoolTimeouts = DEFAULT_TIMEOUTS,
  ) {
    if (!Number.isInteger(threads) || threads < 2) throw new Error(`ApplyPool needs at least 2 threads, got ${threads}`);
  }

  /**
   * Makes `memory` known to the helpers; calls are then written into the returned
   * command buffer. `kernels`: the event loop's instance over the same memory;
   * `maxChunks`: the most chunks (CHUNK elements, or a call's last part) one run makes.
   */
  attach(memory: WebAssembly.Memory, kernels: KernelExports, maxCalls: number, maxChunks: number): PoolArena {
    const id = this.nextId++;
    const commands = new Float64Array(new SharedArrayBuffer((1 + maxCalls * CALL_FIELDS) * Float64Array.BYTES_PER_ELEMENT));
    const sums = new Float64Array(new SharedArrayBuffer(maxChunks * Float64Array.BYTES_PER_ELEMENT));
    this.arenas.set(id, { memory, commands, sums });
    for (const w of this.crew?.helpers ?? []) w.postMessage(attachMessage(id, memory, commands, sums));
    return { id, commands, sums, kernels: KERNEL_NAMES.map((name) => kernels[name]) };
  }

  /** Forgets the arena; the helpers that knew its memory end, and the next apply starts new ones. */
  detach(arena: PoolArena): void {
    if (this.arenas.delete(arena.id)) this.endCrew();
  }

  /** Writes call `k` of the arena's next apply: the kernel's arguments (byte offsets p, g, a, b; n elements; constants). */
  static setCall(arena: PoolArena, k: number, kernel: KernelName, p: number, g: number, a: number, b: number, n: number, constants: readonly number[]): void {
    const c = arena.commands;
    const o = 1 + k * CALL_FIELDS;
    c[o] = KERNEL_NAMES.indexOf(kernel);
    c[o + 1] = p;
    c[o + 2] = g;
    c[o + 3] = a;
    c[o + 4] = b;
    c[o + 5] = n;
    c.set(constants, o + 6);
  }

  /**
   * Runs the first `calls` calls of the arena's command buffer on every thread and
   * returns when all are done. Throws when the pool cannot, or when a thread failed
   * (the pool is then retired, and this apply may be partly done).
   */
  run(arena: PoolArena, calls: number): void {
    if (this.broken) throw new Error(`apply pool retired: ${this.broken}`);
    arena.commands[0] = calls;
    const chunks = chunkCount(arena.commands);
    if (chunks > arena.sums.length) throw new Error(`apply pool: ${calls} calls make ${chunks} chunks, the arena was attached for ${arena.sums.length}`);
    this.command(this.crew ?? this.startCrew(), arena);
  }

  /**
   * Runs the calls of a reduction (sumsq) like `run`, and returns their results'
   * sum, added in chunk order: the same float64 additions however the threads split
   * the chunks, so the same sum as one thread adding chunk by chunk.
   */
  sum(arena: PoolArena, calls: number): number {
    this.run(arena, calls);
    return sumChunks(arena.commands, arena.sums);
  }

  /** Retires the pool and ends its helpers. */
  close(): Promise<void> {
    this.retire('closed');
    return Promise.resolve();
  }

  private startCrew(): Crew {
    const ctl = new Int32Array(new SharedArrayBuffer(CTL.FIELDS * Int32Array.BYTES_PER_ELEMENT));
    // Current before it is ready, so that a start that times out ends these threads.
    const crew: Crew = (this.crew = { ctl, helpers: [], lost: null });
    const helpers = this.threads - 1;
    crew.helpers = Array.from({ length: helpers }, (_, i) => {
      const index = i + 1;
      const w = new Worker(new URL('./apply-helper.mjs', import.meta.url), {
        workerData: { module: this.module, ctl, index, helpers, kernelNames: KERNEL_NAMES },
        name: `downpour-apply-${index}`,
      });
      w.on('message', (msg: { type: string; message: string }) => log.error('apply thread failed', { thread: index, err: msg.message }));
      w.on('error', (err) => (crew.lost ??= `apply thread ${index} died: ${err.message}`));
      w.on('exit', (code) => (crew.lost ??= `apply thread ${index} exited (${code})`));
      w.unref(); // sleeping helpers must not keep the process alive
      for (const [id, a] of this.arenas) w.postMessage(attachMessage(id, a.memory, a.commands, a.sums));
      return w;
    });
    // Blocking: a worker thread starts without this thread's event loop.
    this.await(crew, READY, helpers, this.timeouts.startMs, 'start');
    return crew;
  }

  /** Wakes the helpers for `arena`, applies the event loop's share, waits for theirs. */
  private command(crew: Crew, arena: PoolArena): void {
    if (crew.lost) this.fail(crew.lost);
    const ctl = crew.ctl;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, TARGET, arena.id);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    let ownError: unknown = null;
    try {
      applyShare(arena.kernels, arena.commands, arena.sums, ctl, 0, this.threads);
    } catch (err) {
      ownError = err; // still wait: the helpers are writing into the same arena
    }
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, DONE) < crew.helpers.length && performance.now() < spinUntil);
    this.await(crew, DONE, crew.helpers.length, this.timeouts.applyMs, 'finish an apply');
    if (ownError) this.fail(`the event loop's share failed: ${String(ownError)}`);
    if (Atomics.load(ctl, FAILED)) this.fail('a helper failed (logged above)');
  }

  /** Waits until ctl[field] reaches `count`; retires the pool and throws after `ms`. */
  private await(crew: Crew, field: number, count: number, ms: number, what: string): void {
    const deadline = performance.now() + ms;
    for (let seen = Atomics.load(crew.ctl, field); seen < count; seen = Atomics.load(crew.ctl, field)) {
      const left = deadline - performance.now();
      if (left <= 0) this.fail(`the helpers did not ${what} within ${ms} ms`);
      Atomics.wait(crew.ctl, field, seen, left);
    }
  }

  private fail(reason: string): never {
    this.retire(reason);
    throw new Error(`apply pool retired: ${reason}`);
  }

  private retire(reason: string): void {
    this.broken ??= reason;
    this.arenas.clear();
    this.endCrew();
  }

  private endCrew(): void {
    // terminate() interrupts even a helper stuck in a kernel; it settles asynchronously.
    for (const w of this.crew?.helpers ?? []) void w.terminate();
    this.crew = null;
  }
}

/** What a helper needs of an arena (apply-helper.mjs): the buffers, which are shared, not copied. */
function attachMessage(id: number, memory: WebAssembly.Memory, commands: Float64Array, sums: Float64Array) {
  return { type: 'attach', id, memory, commands: commands.buffer, sums: sums.buffer };
}

const pools = new Map<number, ApplyPool>();

/** The process's pool of `threads` threads, shared by every job; a retired pool is replaced for new stores. */
export function sharedApplyPool(threads: number, module: WebAssembly.Module): ApplyPool {
  let pool = pools.get(threads);
  if (!pool || pool.broken) {
    pool = new ApplyPool(threads, module);
    pools.set(threads, pool);
  }
  return pool;
}
