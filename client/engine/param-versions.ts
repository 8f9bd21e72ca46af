/**
 * The parameters each micro-batch in flight at a stage went forward with (PipeDream-2BW's
 * weight stashing, for GPipe's re-materialisation). A stage recomputes a micro-batch's
 * forward under the tape when its gradient comes back, so that backward is right only
 * on the parameters its forward used. Across the flush (docs/model-parallelism.md,
 * "Overlap across the flush") a stage takes new parameters at the start of mini-batch
 * n + 1 while n's micro-batches are still coming back: their version is kept here until
 * the last of them is back, and loaded into the layers for each of their backwards.
 *
 * No copies: a version is the tensors setParams made, which the layers' variables share
 * by reference when it is loaded (Variable.assign takes the data id). At most depth − 1
 * older versions live beside the newest while depth mini-batches are in flight
 * (ReplicaAssignment.depth).
 */
import type * as tf from '@tensorflow/tfjs';

export class ParamVersions {
  /** The newest parameters' number: set() counts them; 0 is the layers' initial values. */
  private newest = 0;
  /** The version the layers hold now. */
  private loaded = 0;
  /** Each version's tensors, while it may be loaded again; the initial values have none until they must be kept. */
  private readonly tensors = new Map<number, tf.Tensor[]>();
  /** Micro-batches in flight per version. */
  private readonly users = new Map<number, number>();

  constructor(private readonly vars: readonly tf.Variable[]) {}

  /** Versions other than the newest kept for micro-batches in flight (for tests and leaks). */
  get kept(): number {
    return [...this.tensors.keys()].filter((v) => v !== this.newest).length;
  }

  /** The layers take new parameters (owned from now on); those they replace stay while a micro-batch that went forward with them is in flight. */
  set(values: tf.Tensor[]): void {
    if (values.length !== this.vars.length) throw new Error(`The stage has ${this.vars.length} tensors, got ${values.length}`);
    // What the layers hold stays only for micro-batches in flight on it: once replaced, it is no longer the newest.
    if (this.users.has(this.loaded)) this.keepLoaded();
    this.newest += 1;
    this.tensors.set(this.newest, values);
    this.assign(this.newest);
    this.prune();
  }

  /** A micro-batch goes forward: on the newest parameters, held for it until release(). */
  hold(): number {
    this.load(this.newest);
    this.users.set(this.newest, (this.users.get(this.newest) ?? 0) + 1);
    return this.newest;
  }

  /** The micro-batch that held `version` came back (or was dropped). */
  release(version: number): void {
    const n = (this.users.get(version) ?? 0) - 1;
    if (n > 0) this.users.set(version, n);
    else this.users.delete(version);
    this.prune();
  }

  /** The newest parameters, for work that starts and ends before anything else runs (the last stage's loss and backward). */
  loadNewest(): void {
    this.load(this.newest);
  }

  /** Puts `version` into the layers (a micro-batch's backward recomputes its forward on them). */
  load(version: number): void {
    if (version === this.loaded) return;
    if (!this.tensors.has(version)) throw new Error(`Parameters version ${version} is no longer kept (the newest is ${this.newest})`);
    this.keepLoaded();
    this.assign(version);
    this.prune();
  }

  /**
   * The layers' values changed in place (local mode's optimizer step on the newest, with
   * nothing in flight): the tensors kept for the newest no longer hold them, so they go;
   * the layers' own values are the newest from now on.
   */
  movedInPlace(): void {
    if (this.loaded !== this.newest || this.users.size > 0) throw new Error('The layers moved while a micro-batch was in flight or older parameters were loaded');
    this.tensors.get(this.newest)?.forEach((t) => t.dispose());
    this.tensors.delete(this.newest);
  }

  /** Every micro-batch dropped: only the newest parameters stay, in the layers. */
  clear(): void {
    this.users.clear();
    if (this.loaded !== this.newest) this.load(this.newest);
    this.prune();
  }

  dispose(): void {
    this.users.clear();
    for (const ts of this.tensors.values()) ts.forEach((t) => t.dispose());
    this.tensors.clear();
  }

  private needed(version: number): boolean {
    return version === this.newest || this.users.has(version);
  }

  /** Before the layers take other values: keeps the ones they hold if still needed (only the initial values have no tensors of their own). */
  private keepLoaded(): void {
    if (this.needed(this.loaded) && !this.tensors.has(this.loaded)) this.tensors.set(this.loaded, this.vars.map((v) => v.clone()));
  }

  private assign(version: number): void {
    const values = this.tensors.get(version)!;
    this.vars.forEach((v, i) => v.assign(values[i]!));
    this.loaded = version;
  }

  /** Disposes versions no micro-batch in flight needs (the layers keep their own reference to what they hold). */
  private prune(): void {
    for (const [v, ts] of this.tensors) {
      if (this.needed(v)) continue;
      ts.forEach((t) => t.dispose());
      this.tensors.delete(v);
    }
  }
}
