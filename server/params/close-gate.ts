/**
 * Keeps a job's closes (replica steps' and sync/local rounds', chief-rounds.ts) and its
 * checkpoint cuts apart: the one gate of a job on ps tasks (docs/cluster.md,
 * "Guarantees of a replica step across tasks"). A close reaches its tasks at
 * different moments, and a task that missed it is asked again seconds later; a cut taken
 * in between would hold the step (or round) in one task's part and not in another's: half a step,
 * which a restore would make the job's parameters. So a cut waits for the closes in
 * flight (retries included), and a close asked while a cut is being taken waits for it.
 * A cut that is waiting lets no new close start, so closes cannot starve it.
 */
export class CloseGate {
  private closes = 0;
  /** Settles when the last close in flight ends (null while none is). */
  private drained: { promise: Promise<void>; resolve: () => void } | null = null;
  /** The cut waiting or under way, if any: closes wait for it. */
  private cutting: Promise<unknown> | null = null;

  /** Runs `close` once no cut is waiting or under way; a cut asked meanwhile waits for it. */
  async close<T>(close: () => Promise<T>): Promise<T> {
    while (this.cutting) await this.cutting;
    this.closes += 1;
    try {
      return await close();
    } finally {
      this.closes -= 1;
      if (this.closes === 0 && this.drained) {
        this.drained.resolve();
        this.drained = null;
      }
    }
  }

  /** Runs `cut` once no close is in flight, letting none start until it ends; one cut at a time. */
  async cut<T>(cut: () => Promise<T>): Promise<T> {
    while (this.cutting) await this.cutting;
    // With no close in flight the cut starts now, not a tick later: a caller that asks for a cut
    // and then lets a round's quorum in (chief-rounds' test) must find the rounds already held.
    const running = this.closes === 0 ? cut() : this.drain().then(cut);
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    this.cutting = settled;
    try {
      return await running;
    } finally {
      if (this.cutting === settled) this.cutting = null;
    }
  }

  private drain(): Promise<void> {
    if (this.closes === 0) return Promise.resolve();
    if (!this.drained) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.drained = { promise, resolve };
    }
    return this.drained.promise;
  }
}
