/**
 * The replica-step commit of model parallelism (docs/model-parallelism.md): each stage
 * of a replica pushes the gradient of its own tensors for a step; nothing is applied
 * until every stage of the replica pushed that step. Then each stage's part is checked
 * against its own tensors (names, shapes, byte lengths), and the
 * parts are joined into one push of the whole model, which goes through the job's
 * usual path as stage 0's (it holds the replica's lease): one update, one version, the
 * lease's batches counted once, staleness from the oldest stage's base version. The norm
 * bound judges each stage's part against its own tensors' bound (server/params/range-norm-bounds.ts)
 * and clips only that part, the direction check compares it with the same tensors of the
 * trusted gradient; each stage's answer carries its own part's clip. A part
 * that fails its check, here or in the norm bound, refuses the whole step (its batches
 * go back to the queue as a refused push's do) and counts as a fault of the stage that
 * pushed it, not of stage 0 (push-accounting.ts). A dissolved replica's held steps are
 * answered and dropped.
 *
 * On ps tasks (`onTasks`) the parts carry no tensors: each stage holds its part on the
 * tasks of its slices and its notice carries their receipts. The step is then checked
 * and closed on the tasks (server/params/task-stage-steps.ts) instead of joined; a
 * refused or dissolved step's holds are dropped there, so nothing of it is applied. In
 * a round mode the checked step joins the round as its replica and closes with it
 * (server/params/chief-rounds.ts); a refused or dissolved step's parts, held for the
 * round, are never named in its close, which lets them go.
 *
 * Every stage counts its pushes from 0, one by one, whatever their answers (a BUSY one
 * is sent again with its number). A part for any other step than the stage's next, or
 * one more held step than MAX_HELD_STEPS, is a step its other stages could never
 * complete: it would hold their parts, and their tabs, for ever. It is refused
 * STEP_OUT_OF_ORDER and the replica dissolved (`broken`), its held steps answered and
 * dropped; the fault is the stage's. A repeat of a part still held is ALREADY_PUSHED
 * and changes nothing. A step still missing a part a lease period after its first
 * came (a stage that sent a malformed part and stopped, or went silent) is dropped the
 * same way, its replica dissolved (`expire`, on the job's clock). A replica that makes
 * no accepted step in a lease period while it has work (its stage 0 holds a lease, or
 * could take one) is dissolved too: a stage that never sends its neighbour's frames on
 * held its partners for ever. Either way every stage of it is charged: the coordinator
 * cannot see which stage held the others up (the frames go tab to tab, and a part that
 * came proves nothing of its sender's frames). Stage 0's leases run no progress deadline
 * of their own, and none while a part of stage 0's waits here (PushAccounting's
 * leaseDeadline), since theirs would charge the lease holder alone; they still end at the
 * lease period, uncharged (`leaseOverHeld`: a replica that made no accepted step in it
 * stalled). An accepted step ends every stage's run of faults. A push naming another
 * replica (a later stage's id) or a lease stage 0 did not take in this replica is a late
 * one of a replica the worker has left: refused UNKNOWN_REPLICA before it is counted. A step whose last stage reports a loss no cross-entropy can be
 * is refused as that stage's fault, not the lease holder's, and so is a part (in process)
 * claiming a base version the job has not reached, which the step's staleness, counted
 * from its oldest part, would hide.
 */
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PushAccepted } from '../../shared/protocol.js';
import { fail, type Failure, type Result } from '../../shared/result.js';
import { joinTensors } from '../../shared/tensor-parts.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { PushOutcome } from '../params/parameter-service.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import { createLogger } from '../logger.js';
import { lossRefusal } from './training-loss.js';
import type { IncomingPush } from './job-training.js';
import type { Replica } from './replica-board.js';
import { ReplicaProgress } from './replica-progress.js';
import { StagePartChecks, type StageRefusal } from './stage-part-checks.js';
import type { StagePartNotice, TaskStageSteps, TaskStep } from '../params/task-stage-steps.js';

const log = createLogger('replica-steps');

/** Lease ids a replica's stage 0 may name in its pushes: its latest, twice the most it may hold at once. */
const LEASES_REMEMBERED = 128;

/** Steps of one replica held at once: the pipeline runs one step ahead at most, so more is a broken stage. */
const MAX_HELD_STEPS = 4;

type Answer = (r: Result<PushAccepted>) => void;
type StepOutcome = PushOutcome | Result<PushAccepted>;

/**
 * Refusals of a step whose refused part its stage may owe to another stage's frames:
 * a loss out of range or a gradient non-finite or over its bound, computed from the
 * activations it was sent or the gradient it was sent back (and a later stage's batch
 * count, which stage 0's frames give it: see FRAME_BORNE_LATER). Whose fault it is is
 * not to be seen from here, as for a stall.
 */
const FRAME_BORNE: ReadonlySet<string> = new Set<ErrorCode>([ErrorCode.LOSS_OUT_OF_RANGE, ErrorCode.NON_FINITE, ErrorCode.NORM_OUTLIER]);
/** Refused of a later stage's part only: stage 0's own claim is checked against its lease. */
const FRAME_BORNE_LATER: ReadonlySet<string> = new Set<ErrorCode>([ErrorCode.BATCH_CLAIM]);
/**
 * Such refusals in a row (no accepted step between) after which the replica is dissolved
 * and its stages kept apart: one is an honest replica's early transient now and then (a
 * part over its bound once its clips are spent); two in a row end the pairing before
 * either stage's run of faults reaches a bar.
 */
const FRAME_BORNE_SPLIT = 2;


interface HeldStep {
  /** When its first part came (the job's clock): a step still missing a part a deadline later is dropped (expire). */
  since: number;
  /** On ps tasks: each part's notice, taken as it arrives (a dissolved replica's stages have no assignment left to read). */
  notices: (StagePartNotice | undefined)[];
  parts: (IncomingPush | undefined)[];
  /** Each stage's answer, by stage (each is told its own part's clip). */
  answers: (Answer | undefined)[];
  replica: Replica;
}

export interface ReplicaStepsDeps {
  /** The job's tensors, in its order. */
  tensors: readonly TensorSpec[];
  codec: TensorCodec;
  /** Largest payload the job accepts (its gate's cap). */
  maxBytes: number;
  /** The stage's tensor names (its ReplicaAssignment's). */
  stageTensors: (replica: Replica, stage: number) => readonly string[];
  /**
   * Applies the joined push on stage 0's lease, counted for the replica (`member`: a
   * round's member is the replica), or refuses it with `refusal` (its batches then go
   * back to the queue); `culprit`: the worker whose part was refused, whose fault it is
   * (null: stage 0's, or the whole gradient's).
   */
  commit: (workerId: string, push: IncomingPush, refusal: Failure | null, member: string, culprit: string | null) => StepOutcome | Promise<StepOutcome>;
  /** The job's parameters are on ps tasks and its stages hold their parts there; absent in process. */
  onTasks?: TaskStageSteps;
  /** The job's parameter version now: in process, no stage's part may claim a later base (on ps tasks a part's base is its stage's own pull count). */
  version: () => number;
  /** The job's clock. */
  now: () => number;
  /** How long a held step waits for its other stages' parts (the job's lease period): then it is dropped and its replica dissolved. */
  stepDeadlineMs: number;
  /** The replica stalled, or a step was refused for what another stage's frames may have caused: dissolved for `reason`, its stages kept apart (ReplicaBoard.dissolveApart; its held steps answered through `dissolved`). */
  dissolve: (replica: Replica, reason: string) => void;
  /** The replicas formed now. */
  live: () => readonly Replica[];
  /** Whether the replica has work: its stage 0 holds a lease, or would get one if it asked. */
  hasWork: (replica: Replica) => boolean;
  /** `workerId` kept its replica from stepping in time (PushAccounting.stalled): a fault. */
  stalled: (workerId: string, what: 'STEP_DEADLINE' | 'REPLICA_DEADLINE') => void;
  /** A step of the replica was accepted: each of its stages' run of faults ends (PushAccounting.stepped). */
  stepped: (workerIds: readonly string[]) => void;
  /** `workerId`'s part broke its replica's count of steps (`failure`): the fault is its, and the replica is dissolved. */
  broken: (replica: Replica, workerId: string, failure: Failure) => void;
  /** `workerId` is charged `failure` (a fault when its code is one: PushAccounting.blame). */
  charge: (workerId: string, failure: Failure) => void;
}

export class ReplicaSteps {
  private readonly held = new Map<string, Map<number, HeldStep>>();
  /** Per replica, the step each stage pushes next. */
  private readonly nextSteps = new Map<string, number[]>();
  /** Per replica, the leases its stage 0 took in it: a push of stage 0 names one of them. */
  private readonly leases = new Map<string, Set<string>>();
  /** Whether each replica is getting anywhere: a lease period without an accepted step, while it has work, stalls it. */
  private readonly progress: ReplicaProgress;
  /** Whether each stage's part may join its step. */
  private readonly checks: StagePartChecks;
  /** Per replica, its refusals in a row that another stage's frames may have caused (frameBorne). */
  private readonly frameBorneRuns = new Map<string, number>();

  constructor(private readonly d: ReplicaStepsDeps) {
    this.checks = new StagePartChecks(d);
    this.progress = new ReplicaProgress(d.stepDeadlineMs, d.now);
  }

  /** A stage's push for `step`: answered when the step commits (or is refused, or the replica dissolves). */
  push(replica: Replica, workerId: string, step: number, push: IncomingPush): Promise<Result<PushAccepted>> | Failure {
    const stage = replica.members.indexOf(workerId);
    let steps = this.held.get(replica.id);
    if (!steps) this.held.set(replica.id, (steps = new Map()));
    let next = this.nextSteps.get(replica.id);
    if (!next) this.nextSteps.set(replica.id, (next = replica.members.map(() => 0)));
    // A push of the replica the worker was in before (late, from its old runner) is not this replica's step.
    const current = stage === 0 ? this.leases.get(replica.id)?.has(push.leaseId) === true : push.leaseId === replica.id;
    if (!current) {
      this.letGo(replica, stage, push);
      return fail(ErrorCode.UNKNOWN_REPLICA, `The push names ${push.leaseId.slice(0, 80)}, not replica ${replica.id}'s ${stage === 0 ? 'lease' : 'id'}: a push of a replica this worker has left`);
    }
    let held = steps.get(step);
    if (held?.parts[stage]) return fail(ErrorCode.ALREADY_PUSHED, `Stage ${stage} already pushed step ${step} of replica ${replica.id}`);
    const expected = next[stage]!;
    if (step !== expected) {
      this.letGo(replica, stage, push);
      return this.broken(replica, workerId, `Stage ${stage} of replica ${replica.id} pushed step ${step}; its next is ${expected}`);
    }
    if (!held) {
      if (steps.size >= MAX_HELD_STEPS) return this.broken(replica, workerId, `Stage ${stage} of replica ${replica.id} is ${MAX_HELD_STEPS} steps ahead of another stage`);
      steps.set(step, (held = { since: this.d.now(), notices: replica.members.map(() => undefined), parts: replica.members.map(() => undefined), answers: replica.members.map(() => undefined), replica }));
    }
    next[stage] = step + 1;
    held.parts[stage] = push;
    if (this.d.onTasks) held.notices[stage] = this.notice(replica, stage, push);
    const answered = new Promise<Result<PushAccepted>>((resolve) => (held.answers[stage] = resolve));
    if (held.answers.every((a) => a !== undefined)) {
      steps.delete(step);
      try {
        this.commit(replica, held, held.answers as Answer[]);
      } catch (err) {
        // Every stage is answered whatever went wrong: an unanswered part holds its bytes
        // under the process's admission bound for ever, and its stage waits for ever.
        log.error('a replica step could not be committed', { replica: replica.id, step, error: err instanceof Error ? err.message : String(err) });
        for (const answer of held.answers) answer?.(fail(ErrorCode.INTERNAL, `Step ${step} of replica ${replica.id} could not be committed`));
      }
    }
    return answered;
  }

  /**
   * Drops every held step whose other parts have not come within the deadline: a stage
   * that never pushes its part (it sent a malformed one and stopped, or went silent)
   * would hold its neighbours' parts, and their tabs, for ever. Its replica is dissolved,
   * the held parts answered UNKNOWN_REPLICA with the reason. Run on the job's clock.
   */
  expire(): void {
    const now = this.d.now();
    for (const steps of [...this.held.values()]) {
      for (const [step, held] of steps) {
        if (now - held.since < this.d.stepDeadlineMs) continue;
        const missing = held.replica.members.map((_, stage) => stage).filter((stage) => !held.parts[stage]);
        this.stall(held.replica, 'STEP_DEADLINE', `stage ${missing.join(', ')} of replica ${held.replica.id} did not push step ${step} within ${this.d.stepDeadlineMs / 1000} s`);
        break;
      }
    }
    for (const replica of this.d.live()) {
      // A held step has its own deadline above; an answer still to come is the round's.
      if (this.held.get(replica.id)?.size || this.progress.awaiting(replica.id)) continue;
      if (!this.d.hasWork(replica)) this.progress.idle(replica.id);
      else if (this.progress.overdue(replica)) this.stallIdle(replica);
    }
  }

  /**
   * The replica is dissolved for `reason`, and every stage of it charged `what`. Which stage
   * held the others up is not to be seen from here: the frames go tab to tab, and a part
   * that came proves nothing of its sender's frames (a stage can push its part and never
   * send its neighbour what that one needs to push its own). A stage that stalls every
   * replica it joins is barred at its third.
   */
  private stall(replica: Replica, what: 'STEP_DEADLINE' | 'REPLICA_DEADLINE', reason: string): void {
    for (const m of replica.members) this.d.stalled(m, what);
    this.d.dissolve(replica, reason);
  }

  /** The replica made no accepted step in a lease period while it had work. */
  private stallIdle(replica: Replica): void {
    this.stall(replica, 'REPLICA_DEADLINE', `replica ${replica.id} made no step within ${this.d.stepDeadlineMs / 1000} s`);
  }

  /** Whether a part of stage 0's waits for its step's other parts (the step's own deadline runs: expire()). */
  holds(replicaId: string): boolean {
    for (const held of this.held.get(replicaId)?.values() ?? []) if (held.parts[0]) return true;
    return false;
  }

  /**
   * Stage 0 of `replica` lost its leases at the lease period's end (uncharged: PushAccounting).
   * A replica that made no accepted step in that time stalled, as expire() would find; one
   * that stepped, slowly, goes on uncharged, leasing again: no piece is kept longer.
   */
  leaseOverHeld(replica: Replica): void {
    if (this.progress.overdue(replica)) this.stallIdle(replica);
  }

  /** Stage 0 of `replica` took lease `leaseId`: its pushes in this replica may name it. */
  leased(replica: Replica, leaseId: string): void {
    let set = this.leases.get(replica.id);
    if (!set) this.leases.set(replica.id, (set = new Set()));
    set.add(leaseId);
    // Only the latest are named by its pushes (it holds at most the job's maxLeasesPerWorker, ≤ 64, at once): a replica that lives for days must not keep every id.
    if (set.size > LEASES_REMEMBERED) set.delete(set.values().next().value!);
  }

  /** Refuses a part that breaks the replica's count of steps, and has the replica dissolved. */
  private broken(replica: Replica, workerId: string, message: string): Failure {
    const failure = fail(ErrorCode.STEP_OUT_OF_ORDER, `${message}: a step its other stages could never complete; the replica is dissolved`);
    this.d.broken(replica, workerId, failure);
    return failure;
  }

  /** The replica is gone: its held steps are answered with `reason` and dropped, nothing applied. */
  dissolved(replicaId: string, reason: Failure): void {
    const steps = this.held.get(replicaId);
    this.held.delete(replicaId);
    this.nextSteps.delete(replicaId);
    this.leases.delete(replicaId);
    this.progress.forget(replicaId);
    this.frameBorneRuns.delete(replicaId);
    for (const held of steps?.values() ?? []) {
      for (const answer of held.answers) answer?.(reason);
      // What its stages hold on the tasks goes too (receipts that check only: a forged one names no one's hold).
      const tasks = this.d.onTasks;
      if (tasks) tasks.drop(tasks.check(held.notices.filter((n) => n !== undefined)).step);
    }
  }

  private commit(replica: Replica, held: HeldStep, answers: Answer[]): void {
    const parts = held.parts as IncomingPush[];
    const first = parts[0]!;
    const common = {
      ...first,
      // Staleness counts from the oldest parameters any stage computed on.
      baseVersion: Math.min(...parts.map((p) => p.baseVersion)),
      // Only the last stage has the loss.
      loss: parts[parts.length - 1]!.loss,
    };
    let push: IncomingPush;
    let refusal: Failure | null = null;
    let culprit: number | null = null;
    // The first refused part, and whose it is.
    const blame = (found: StageRefusal | null) => {
      if (refusal || !found) return;
      refusal = found.failure;
      culprit = found.stage;
    };
    blame(this.checks.batchRefusal(replica, parts));
    const lastStage = parts.length - 1;
    const badLoss = lossRefusal(parts[lastStage]!.loss);
    blame(badLoss && { failure: { ...badLoss, message: `Stage ${lastStage} of replica ${replica.id}: ${badLoss.message}` }, stage: lastStage });
    let step: TaskStep | null = null;
    const tasks = this.d.onTasks;
    if (tasks) {
      // Nothing to join: the parts are held on the tasks; the step closes there when every receipt checks.
      const checked = tasks.check(held.notices as StagePartNotice[]);
      step = checked.step;
      blame(checked.refusal && { failure: checked.refusal, stage: checked.stage ?? 0 });
      push = { ...common, manifest: { codec: first.manifest.codec, tensors: [] }, data: new Uint8Array(0), psRefused: undefined, psReceipts: undefined, psStep: step };
    } else {
      blame(this.checks.futureRefusal(replica, parts));
      blame(this.checks.layoutsRefusal(replica, parts));
      // Joined only once every part's layout is its stage's: a manifest may name its
      // buffer's bytes a thousand times over, and a join before the check would copy
      // them that often (gigabytes from one 16 MB message).
      const joined = refusal ? { manifest: { codec: first.manifest.codec, tensors: [] }, data: new Uint8Array(0) } : joinTensors<UncheckedManifest>(parts);
      const stageParts = replica.members.map((worker, s) => ({ worker, tensors: this.d.stageTensors(replica, s).length }));
      push = { ...common, manifest: joined.manifest, data: joined.data, stageParts };
    }
    const settle = (r: StepOutcome) => {
      this.progress.answered(replica.id, r.ok);
      if (r.ok) {
        this.d.stepped(replica.members);
        this.frameBorneRuns.delete(replica.id);
      }
      // A step refused before its close (its lease, a part) lets its holds go: nothing of it is applied.
      if (step) tasks!.drop(step);
      answers.forEach((a, s) => a(stageAnswer(replica, notAgain(r), s)));
      // The stage charged for a refusal: the culprit found here (when the refusal is its: the lease's own check comes first), else the one the parameter service named, else the lease holder.
      if (!r.ok) this.frameBorne(replica, r, refusal !== null && r === refusal ? (culprit ?? 0) : 'stage' in r && r.stage !== undefined ? r.stage : 0);
    };
    this.progress.committed(replica.id);
    const r = this.d.commit(replica.members[0]!, push, refusal, replica.id, culprit === null || culprit === 0 ? null : replica.members[culprit]!);
    if (r instanceof Promise) {
      void r.then(settle, (err: unknown) => {
        log.error('a replica step failed', { replica: replica.id, error: err instanceof Error ? err.message : String(err) });
        settle(fail(ErrorCode.INTERNAL, `A step of replica ${replica.id} could not be committed`));
      });
    }
    else settle(r);
  }


  /**
   * A step refused for a value stage `charged`'s part may owe to its neighbours' frames
   * (FRAME_BORNE): `charged` took the fault when the step was settled, and every other
   * stage is charged too. A hostile stage could otherwise send an honest neighbour
   * activations, or gradients back, that make the honest part refused, and have it barred
   * at no cost to itself. At FRAME_BORNE_SPLIT in a row the replica is dissolved and its
   * stages kept apart, as for a stall: such a stage then meets a new partner each time, and
   * its own faults add up.
   */
  private frameBorne(replica: Replica, failure: Failure, charged: number): void {
    if (!FRAME_BORNE.has(failure.code) && !(charged > 0 && FRAME_BORNE_LATER.has(failure.code))) return;
    replica.members.forEach((m, stage) => stage !== charged && this.d.charge(m, failure));
    // A charge may have barred a stage, which dissolved the replica already: its stages are kept apart all the same.
    const gone = !this.nextSteps.has(replica.id);
    const run = gone ? FRAME_BORNE_SPLIT : (this.frameBorneRuns.get(replica.id) ?? 0) + 1;
    if (run < FRAME_BORNE_SPLIT) {
      this.frameBorneRuns.set(replica.id, run);
      return;
    }
    this.d.dissolve(replica, `stage ${charged}'s part was refused ${failure.code}, ${run} steps in a row, which another stage's frames may have caused: every stage is charged`);
  }

  /**
   * On ps tasks, the holds a part refused before its step was kept names (a part of a
   * replica its worker left, or out of order) are let go: no step will close or drop them,
   * and each task keeps only two of a worker's (BUSY past that) until they go stale.
   * Not for a part refused ALREADY_PUSHED: it may be the held part sent again.
   */
  private letGo(replica: Replica, stage: number, push: IncomingPush): void {
    const tasks = this.d.onTasks;
    if (tasks) tasks.drop(tasks.check([this.notice(replica, stage, push)]).step);
  }

  /** A stage's push as the tasks' step check reads it. */
  private notice(replica: Replica, stage: number, part: IncomingPush): StagePartNotice {
    return { worker: replica.members[stage]!, tensors: this.d.stageTensors(replica, stage), refused: part.psRefused, receipts: part.psReceipts };
  }
}

/**
 * A step refused BUSY once its parts were counted (a ps task full when a stage held its
 * part, a round full) is answered CONFLICT: a push answered BUSY is sent again as it was
 * (shared/slot-pusher.ts), and this one's step number is used, so it would come back out
 * of order and be charged as a broken count. Its batches went back to the queue.
 */
function notAgain(r: StepOutcome): StepOutcome {
  if (r.ok || r.code !== ErrorCode.BUSY) return r;
  return { ...r, code: ErrorCode.CONFLICT, message: `${r.message} (the step is dropped, not to be sent again)` };
}

/**
 * Stage `s`'s answer to its replica's step: a refusal the parameter service made of one
 * stage's part names that stage; an accepted step tells each stage its own part's clip
 * (none when its part was within the bound).
 */
function stageAnswer(replica: Replica, r: StepOutcome, s: number): Result<PushAccepted> {
  if (!r.ok) {
    if (!('stage' in r) || r.stage === undefined) return r;
    const { stage, ...failure } = r;
    return { ...failure, message: `Stage ${stage} of replica ${replica.id}: ${failure.message}` };
  }
  if (!('stageClips' in r) || !r.stageClips) return r;
  const { stageClips, clipped: _whole, ...accepted } = r;
  const own = stageClips[s];
  return own == null ? accepted : { ...accepted, clipped: own };
}
