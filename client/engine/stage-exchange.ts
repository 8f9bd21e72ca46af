/**
 * A stage's pushes and pulls, overlapped with its computing (docs/model-parallelism.md,
 * "The bubble"). Waiting in series for the replica-step commit and the pull after every
 * push left each stage idle for two round trips per step. Here a push goes out and the
 * stage goes on: stage 0 starts mini-batch n + 1 while step n's commit is on its way
 * (PipeDream-flush's one step of staleness); the pull that follows the acknowledgement
 * runs while n + 1 goes forward, and its parameters are taken at the next mini-batch's
 * start, never in the middle of one (a stage recomputes each micro-batch's forward under
 * the tape when its gradient comes back, so parameters must not change in between).
 *
 * Bounded: a push is sent only once the previous one was answered (one push outstanding
 * at most), and a mini-batch starts only once the pull issued after that answer is in.
 *
 * In a round mode the runner turns the overlap off and pulls after every push, so each
 * step is computed on the last round's result; in local mode what is pushed is the
 * stage's round delta (stage-local-steps.ts) rather than its summed gradient.
 *
 * Across the flush (docs/model-parallelism.md, "Overlap across the flush") mini-batches
 * n + 1 … n + depth − 1 start while n is still coming back, before n's push: the bound
 * holds by fresh(step) waiting for the answer of a push closed by mini-batch step − depth
 * or earlier (and the pull after it), so a mini-batch lacks at most the depth − 1 in
 * flight beside it. Depth 2 is PipeDream-flush's one step of staleness; depth 3 (the
 * default, "Three mini-batches in flight") gives a step's commit two mini-batches' work
 * to hide behind.
 */
import { decodeTensors } from '../../shared/codec.js';
import type { GradientPush, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import { ok, type Result } from '../../shared/result.js';
import type { GradientAccumulator } from './gradient-accumulator.js';
import type { StageLocalSteps } from './stage-local-steps.js';
import { StagePhases } from './stage-phases.js';
import type { StageTrainer } from './stage-trainer.js';

export interface ExchangeServer {
  pull(req: PullRequest): Promise<Result<ParamsSnapshot>>;
  push(push: GradientPush): Promise<Result<PushAccepted>>;
}

/** What a push says besides the gradient: its lease (or replica), batches and examples since the last push. */
export interface PushClaim {
  leaseId: string;
  batches: number;
  examples: number;
  /** The last mini-batch (step) it closes: its gradient is that of the steps up to it; default every step so far. */
  through?: number;
}

export class StageExchange {
  /** The push not yet answered (at most one). */
  private outstanding: Promise<Result<PushAccepted>> | null = null;
  /** The last mini-batch the outstanding push closed. */
  private outstandingThrough = -Infinity;
  /** The pull issued after the last answered push, not yet taken into the layers. */
  private pulling: Promise<Result<ParamsSnapshot>> | null = null;
  private baseVersion = 0;
  private step = 0;
  private pushes = 0;

  constructor(
    private readonly jobId: string,
    private readonly tensors: string[],
    private readonly nFetch: number,
    private readonly trainer: StageTrainer,
    private readonly accumulator: GradientAccumulator,
    private readonly server: ExchangeServer,
    /** A push was answered (examples and batches it claimed). */
    private readonly answered: (r: Result<PushAccepted>, examples: number, batches: number) => void,
    /** Mini-batches in flight (ReplicaAssignment.depth): 1, each push waits for its own answer (no step computed stale). */
    private readonly depth = 2,
    /** Local mode: the stage's own local steps, whose round delta it pushes in place of a gradient. */
    private readonly local: StageLocalSteps | null = null,
    /** Where its time goes (the runner's, so the stage's phases are in one place). */
    private readonly phases: StagePhases = new StagePhases(),
  ) {}

  /** A mini-batch came back through the stage: local mode takes its local step on it. */
  async miniBatchDone(): Promise<void> {
    await this.local?.step();
  }

  /** Pulls the stage's tensors and waits for them (its first parameters). */
  async pullNow(): Promise<Result<ParamsSnapshot>> {
    return this.take(await this.server.pull({ jobId: this.jobId, tensors: this.tensors }));
  }

  /**
   * At mini-batch `step`'s start: the parameters pulled after the last answered push, if one
   * was. Waits for that pull (already in, unless the network is slower than a mini-batch),
   * and first, given `step`, for the answer of an outstanding push closed by step − depth
   * or earlier (across the flush; the answer stays for settle() to hand on).
   */
  async fresh(step?: number): Promise<Result<ParamsSnapshot> | null> {
    const outstanding = this.outstanding;
    if (outstanding && step !== undefined && this.outstandingThrough <= step - this.depth) await this.phases.time('wait-answer', () => outstanding);
    const pulling = this.pulling;
    if (!pulling) return null;
    this.pulling = null;
    const snap = await this.phases.time('wait-pull', () => pulling);
    return this.phases.time('apply-pull', () => this.take(snap));
  }

  /**
   * Takes the stage's gradient for the mini-batches since the last push and sends it once
   * the previous push was answered; with overlap, does not wait for this one's answer and
   * resolves with the previous push's answer (null for the first); without, resolves with
   * this push's own answer.
   */
  async push(claim: PushClaim): Promise<Result<PushAccepted> | null> {
    const g = await this.phases.time('read-gradient', () => (this.local ? this.local.delta() : this.trainer.takeGradient(claim.through)));
    const payload = await this.phases.time('encode-push', () => {
      if (g.grads.length) this.accumulator.add(g.grads, 0, claim.examples);
      return this.accumulator.take();
    });
    const before = await this.phases.time('wait-previous', () => this.settle());
    // Every nFetch pushes a pull follows the answer: the answer brings the tensors where the server can (GradientPush.pull).
    const pulls = ++this.pushes % this.nFetch === 0;
    const sent = this.server.push({
      jobId: this.jobId,
      leaseId: claim.leaseId,
      baseVersion: this.baseVersion,
      batches: claim.batches,
      // The last stage's loss is the sum over its micro-batches of each one's share of its mini-batch's mean.
      loss: g.loss === null ? null : g.loss / claim.batches,
      replicaStep: this.step++,
      ...payload,
      ...(pulls ? { pull: { tensors: this.tensors } } : {}),
    });
    this.outstanding = sent.then((r) => {
      this.answered(r, claim.examples, claim.batches);
      // Taken at the answer or pulled after it, so the parameters hold this step's commit.
      if (pulls) this.pulling = r.ok && r.params ? Promise.resolve(ok(r.params)) : unawaited(this.server.pull({ jobId: this.jobId, tensors: this.tensors }));
      return r;
    });
    this.outstandingThrough = claim.through ?? Infinity;
    unawaited(this.outstanding);
    // Serial: this push's own answer, so the next mini-batch starts on its commit.
    return this.depth > 1 ? before : await this.settle();
  }

  /** Waits for the push in flight, if any: its answer (null when none was). */
  async settle(): Promise<Result<PushAccepted> | null> {
    const outstanding = this.outstanding;
    this.outstanding = null;
    return outstanding ? await outstanding : null;
  }

  private take(snap: Result<ParamsSnapshot>): Result<ParamsSnapshot> {
    if (!snap.ok) return snap;
    const values = this.trainer.specs.length ? decodeTensors(snap, this.trainer.specs) : [];
    if (values.length) this.trainer.setParams(values);
    this.local?.started(values);
    this.baseVersion = snap.version;
    return snap;
  }
}

/** A promise the stage may never await (it stopped first, its socket gone): its rejection is then no unhandled one; whoever awaits it still gets it. */
function unawaited<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
