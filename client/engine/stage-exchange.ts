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
import type { GradientPush, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import { ok, type Result } from '../../shared/result.js';
import type { GradientAccumulator } from './gradient-accumulator.js';
import { readPulled, type Pulled } from './pulled-params.js';
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

/** A push taken from the stage, sent once the one before it was answered. */
export interface QueuedPush {
  /** This push's own answer (it never rejects for a refusal; only a transport failure rejects it). */
  answer: Promise<Result<PushAccepted>>;
}

export class StageExchange {
  /** Pushes taken and not yet answered, oldest first, with the last mini-batch each closed. */
  private readonly unanswered: { through: number; answer: Promise<Result<PushAccepted>> }[] = [];
  /**
   * The last push taken, settled once answered (never rejecting): the next is sent after it.
   * One push unanswered at a time: the coordinator takes a stage's parts in step order, and
   * a push refused BUSY and sent again must not be overtaken by the next. (Two were
   * measured, docs/model-parallelism.md: the bubble did not move.)
   */
  private last: Promise<void> = Promise.resolve();
  /** Reading and encoding pushes, one after another in the order they were taken. */
  private intake: Promise<unknown> = Promise.resolve();
  /** The pull issued after the last answered push, not yet taken into the layers. */
  private pulling: Promise<Result<ParamsSnapshot>> | null = null;
  private baseVersion = 0;
  /** The stage's tensors exactly as last pulled (never its layers, which local steps move): what a delta pull applies to. */
  private held: Pulled | null = null;
  /** The parameters' version each mini-batch started on here, until its push takes it (the push's stamp is its oldest). */
  private readonly startedOn = new Map<number, number>();
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
    return this.take(await this.server.pull(this.pullRequest()));
  }

  /**
   * At mini-batch `step`'s start: the parameters pulled after the last answered push, if one
   * was. Given `step`, first waits for the answers of the pushes closed by mini-batch
   * step − depth or earlier (the caller has taken every such push), then for the pull
   * after them (already in, unless the network is slower than a mini-batch).
   */
  async fresh(step?: number): Promise<Result<ParamsSnapshot> | null> {
    if (step !== undefined) {
      // Answers come in the order the pushes were sent: the last one due settles all before it.
      const due = this.unanswered.filter((u) => u.through <= step - this.depth).at(-1);
      if (due) await this.phases.time('wait-answer', () => due.answer);
    }
    const pulling = this.pulling;
    this.pulling = null;
    let snap = pulling ? await this.phases.time('wait-pull', () => pulling) : null;
    // A delta asked for against a version since replaced (two answers between two mini-batches' starts): pulled whole instead.
    if (snap?.ok && snap.manifest.codec === 'delta' && snap.manifest.since !== this.held?.version) {
      snap = await this.phases.time('wait-pull', () => this.server.pull({ jobId: this.jobId, tensors: this.tensors }));
    }
    const taken = snap ? await this.phases.time('apply-pull', () => this.take(snap)) : null;
    if (step !== undefined) this.startedOn.set(step, this.baseVersion);
    return taken;
  }

  /**
   * Takes the stage's gradient for the mini-batches since the last push (through
   * `claim.through`) and queues it: it is sent once the previous push was answered.
   * Resolves once the gradient is read and encoded (the stage's own work), with what
   * resolves at this push's answer; nobody need wait for that but fresh() and settle().
   */
  async push(claim: PushClaim): Promise<QueuedPush> {
    const taken = this.intake.then(() => this.takePush(claim));
    this.intake = taken.catch(() => {});
    const { payload, loss, baseVersion } = await taken;
    const previous = this.last;
    // Every nFetch pushes a pull follows the answer: the answer brings the tensors where the server can (GradientPush.pull).
    const pulls = ++this.pushes % this.nFetch === 0;
    const replicaStep = this.step++;
    const answer = previous.then(() =>
      this.server.push({
        jobId: this.jobId,
        leaseId: claim.leaseId,
        baseVersion,
        batches: claim.batches,
        // The last stage's loss is the sum over its micro-batches of each one's share of its mini-batch's mean.
        loss: loss === null ? null : loss / claim.batches,
        replicaStep,
        ...payload,
        ...(pulls ? { pull: this.answerPull() } : {}),
      }).then((r) => {
        this.answered(r, claim.examples, claim.batches);
        // Taken at the answer or pulled after it, so the parameters hold this step's commit.
        if (pulls) this.pulling = r.ok && r.params ? Promise.resolve(ok(r.params)) : unawaited(this.server.pull(this.pullRequest()));
        return r;
      }),
    );
    const entry = { through: claim.through ?? Infinity, answer };
    this.unanswered.push(entry);
    // Never rejects: a push lost with its transport does not keep the next from being sent (the stage stops on that failure anyway).
    this.last = answer.finally(() => this.unanswered.splice(this.unanswered.indexOf(entry), 1)).then(
      () => {},
      () => {},
    );
    return { answer: unawaited(answer) };
  }

  /** Waits for every push taken so far to be answered. */
  async settle(): Promise<void> {
    await this.last;
  }

  /** Reads and encodes a push's gradient, stamped with the oldest version its mini-batches started on. */
  private async takePush(claim: PushClaim) {
    const g = await this.phases.time('read-gradient', () => (this.local ? this.local.delta() : this.trainer.takeGradient(claim.through)));
    const payload = await this.phases.time('encode-push', () => {
      if (g.grads.length) this.accumulator.add(g.grads, 0, claim.examples);
      return this.accumulator.take();
    });
    return { payload, loss: g.loss, baseVersion: this.stampFor(claim.through) };
  }

  /** The oldest version the mini-batches up to `through` started on (forgotten from now on); the loaded one when none was recorded. */
  private stampFor(through = Infinity): number {
    let oldest = Infinity;
    for (const [step, version] of this.startedOn) {
      if (step > through) continue;
      oldest = Math.min(oldest, version);
      this.startedOn.delete(step);
    }
    return Number.isFinite(oldest) ? oldest : this.baseVersion;
  }

  /** A pull of the stage's tensors, saying which version it holds as pulled (the answer may then be a delta). */
  private pullRequest(): PullRequest {
    return { jobId: this.jobId, tensors: this.tensors, ...this.have() };
  }

  /** What a push asks to be answered with (GradientPush.pull). */
  private answerPull(): NonNullable<GradientPush['pull']> {
    return { tensors: this.tensors, ...this.have() };
  }

  private have(): { have?: number } {
    return this.held ? { have: this.held.version } : {};
  }

  private take(snap: Result<ParamsSnapshot>): Result<ParamsSnapshot> {
    if (!snap.ok) return snap;
    let values: Float32Array[] = [];
    if (this.trainer.specs.length) {
      // Ahead of anything a delta could be applied to: a pull answered before an older one was taken.
      if (this.held && snap.version < this.held.version) return snap;
      this.held = readPulled(this.held, snap, this.trainer.specs);
      // Copies: the held values stay as pulled whatever the layers do with theirs.
      values = this.held.values.map((v) => v.slice());
    }
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
