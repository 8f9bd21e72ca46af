/**
 * Workers excused from a round before it opens. A round stops waiting for a worker whose
 * push it refused or who left; when that happens before the round's first push opens it
 * (pushes from different sockets arrive in any order), the excuse must still hold, or the
 * round would wait for that worker until its deadline. Kept for one round number only.
 */
export class RoundExcuses {
  private round = -1;
  private readonly workers = new Set<string>();

  excuse(round: number, workerId: string): void {
    if (round !== this.round) {
      this.workers.clear();
      this.round = round;
    }
    this.workers.add(workerId);
  }

  /** Round `round` opens expecting `expected`: the workers excused from it are taken out. */
  opened(round: number, expected: Set<string>): void {
    if (round === this.round) for (const w of this.workers) expected.delete(w);
    this.workers.clear();
    this.round = -1;
  }
}
