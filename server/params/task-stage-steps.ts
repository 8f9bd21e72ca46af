/**
 * A split job's replica steps on ps tasks, at the chief (docs/model-parallelism.md,
 * "On ps tasks"). Each stage holds its part of a step on the tasks that hold its
 * tensors' slices (`grads:hold`, server/ps-task/task-stage-holds.ts) and shows the
 * chief one receipt per such task. When every stage of the replica has, the chief
 * checks every receipt against the slices that stage's tensors have on that task
 * (server/cluster/hold-receipts.ts): then the step's holds cover each task's slices
 * exactly once, and `step:close` goes to every task, each applying its holds as one
 * update. If any stage's part was refused (by a task, by a receipt check, by the lease
 * accounting), the verified holds are dropped on their tasks and nothing is applied
 * anywhere: holding is the vote, the close the decision.
 *
 * A close is all or nothing across the tasks (docs/cluster.md, "Guarantees of a replica
 * step across tasks"). A task's close is idempotent (task-stage-holds.ts), so a task
 * that missed it (its answer timed out, its socket dropped, it was BUSY) is asked again
 * on the round closes' schedule (round-close-retry.ts), on the job's clock. When asking
 * again cannot help (retries spent, or a task refused: it restarted, or evicted a hold)
 * and some task applied the step or may have (no answer), the step is half applied:
 * the replica is refused, and `diverged` holds the job until its tasks are rolled back
 * to the last committed cut (ps-task-recovery.ts). Closes and cuts never overlap
 * (close-gate.ts), so no cut holds half a step.
 */
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { Placement } from '../../shared/placement.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { PsHoldRef } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { roundOfPart, type HoldLedger } from '../cluster/hold-receipts.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { createLogger } from '../logger.js';
import { TRANSIENT_CLOSE_CODES } from './round-close-retry.js';

const log = createLogger('task-steps');

/** One stage's notice of its part, as the replica step holds it. */
export interface StagePartNotice {
  worker: string;
  /** The stage's tensor names (its ReplicaAssignment's). */
  tensors: readonly string[];
  /** A task's refusal of the part, if one refused. */
  refused?: string;
  /** Per task holding its part: `version` is the task's hold number. */
  receipts?: GradientPush['psReceipts'];
}

/** A replica step's verified holds, per task; settled once closed or dropped. */
export interface TaskStep {
  readonly holds: ReadonlyMap<number, PsHoldRef[]>;
  settled: boolean;
  /** In a round mode: the round every part is held for (each hold's number names it); null otherwise. */
  readonly round: number | null;
}

export interface TaskStageStepsOptions {
  jobId: string;
  tensors: readonly TensorSpec[];
  placement: Placement;
  cluster: PsCluster;
  ledger: HoldLedger;
  /** Runs `attempt` (a close on the tasks that have not closed yet) and asks again while it may pass; the last answer. */
  retry: (attempt: () => Promise<Result>) => Promise<Result>;
  /** The step was applied on some task and not on every one (or may have been): the tasks are apart until rolled back. */
  diverged: (why: Failure) => void;
  /**
   * A round mode: the parts are held for the open round (their receipts bind it), the
   * step joins the round as its replica and closes with it (chief-rounds.ts), never here.
   */
  rounds?: boolean;
}

export class TaskStageSteps {
  /** Per tensor name, its slices' (task, name) in the placement's order. */
  private readonly slicesOf: Map<string, { task: number; name: string; index: number }[]>;

  private readonly jobId: string;
  private readonly cluster: PsCluster;
  private readonly ledger: HoldLedger;

  constructor(private readonly o: TaskStageStepsOptions) {
    ({ jobId: this.jobId, cluster: this.cluster, ledger: this.ledger } = o);
    this.slicesOf = new Map(o.tensors.map((t, i) => [t.name, o.placement.byTask.flatMap((slices, task) => slices.flatMap((s, index) => (s.tensor === i ? [{ task, name: s.name, index }] : [])))]));
  }

  /** Per task, the names of the slices `tensors` have there, in the task's order: what a stage holds on each. */
  slicesByTask(tensors: readonly string[]): Map<number, string[]> {
    const byTask = new Map<number, { index: number; name: string }[]>();
    for (const t of tensors) for (const s of this.slicesOf.get(t) ?? []) byTask.set(s.task, [...(byTask.get(s.task) ?? []), s]);
    return new Map([...byTask].map(([task, s]) => [task, s.sort((a, b) => a.index - b.index).map((x) => x.name)]));
  }

  /**
   * Checks every stage's part: its refusal, else one receipt per task its tensors have
   * slices on, each the task's for exactly those slices and unused. Answers the step
   * (every hold that verified, to close or drop) and the first refusal, if any, with its stage.
   */
  check(parts: readonly StagePartNotice[]): { step: TaskStep; refusal: Failure | null; stage: number | null } {
    const holds = new Map<number, PsHoldRef[]>();
    /** In a round mode, the rounds the parts are held for (one, when the step is whole). */
    const rounds = new Set<number>();
    let refusal: Failure | null = null;
    let refused: number | null = null;
    parts.forEach((p, stage) => {
      const expected = this.slicesByTask(p.tensors);
      const seen = new Set<number>();
      for (const r of p.receipts ?? []) {
        const slices = expected.get(r.task);
        const fields = { task: r.task, job: this.jobId, worker: p.worker, hold: r.version, slices: slices ?? [] };
        const bad =
          seen.has(r.task) || !slices
            ? fail(ErrorCode.BAD_RECEIPT, `ps task ${r.task} holds no slice of stage ${stage}'s tensors, or has two receipts`)
            : this.o.rounds
              ? (this.ledger.checkRound(fields, r.receipt) ?? this.sameRound(rounds, roundOfPart(r.version)))
              : this.ledger.check(fields, r.receipt);
        seen.add(r.task);
        if (bad) {
          refusal ??= { ...bad, message: `Stage ${stage}: ${bad.message}` };
          continue;
        }
        holds.set(r.task, [...(holds.get(r.task) ?? []), { worker: p.worker, hold: r.version }]);
      }
      if (p.refused !== undefined) refusal ??= fail(knownCode(p.refused), `Stage ${stage}'s part was refused by a ps task (${p.refused})`);
      const missing = [...expected.keys()].find((t) => !seen.has(t));
      if (missing !== undefined) refusal ??= fail(ErrorCode.BAD_RECEIPT, `Stage ${stage} shows no receipt of ps task ${missing}, which holds slices of its tensors`);
      if (refusal && refused === null) refused = stage;
    });
    return { step: { holds, settled: false, round: this.o.rounds ? (rounds.values().next().value ?? null) : null }, refusal, stage: refused };
  }

  /** A round mode's part held for `round`: refused LATE when another part of the step is held for another round. */
  private sameRound(rounds: Set<number>, round: number): Failure | null {
    rounds.add(round);
    return rounds.size === 1 ? null : fail(ErrorCode.LATE, `The step's parts are held for rounds ${[...rounds].join(' and ')}: its stages computed on different rounds`);
  }

  /**
   * Applies the step: `step:close` on every task holding part of it, in parallel, and
   * again on those that missed it while asking again may help. The holds are redeemed
   * first (a receipt counts once). Answers each task's new version, or the refusal of
   * a task that did not close it (after `diverged` when the step is half applied).
   */
  async close(step: TaskStep): Promise<Result<{ versions: { task: number; version: number }[] }>> {
    if (step.round !== null) return fail(ErrorCode.CONFLICT, "A round's replica step closes with its round");
    if (step.settled) return fail(ErrorCode.CONFLICT, 'This replica step was closed or dropped already');
    step.settled = true;
    for (const [task, refs] of step.holds) for (const r of refs) this.ledger.use(task, r.hold);
    const tasks = [...step.holds.keys()];
    const answers = new Map<number, Result<{ version: number }>>();
    const attempt = async (): Promise<Result> => {
      const todo = tasks.filter((t) => !answers.get(t)?.ok);
      const got = await Promise.all(todo.map((task) => this.cluster.request(task, 'step:close', { jobId: this.jobId, holds: step.holds.get(task)! })));
      todo.forEach((task, i) => answers.set(task, got[i]!));
      const refused = todo.findIndex((_, i) => !got[i]!.ok);
      if (refused < 0) return ok({});
      const r = got[refused] as Failure;
      return { ...r, message: `ps task ${todo[refused]}: ${r.message}` };
    };
    const closed = await this.o.retry(attempt);
    if (closed.ok) return ok({ versions: tasks.map((task) => ({ task, version: (answers.get(task) as { version: number }).version })) });
    const applied = tasks.filter((t) => answers.get(t)!.ok);
    // A task that did not answer may have applied its part unheard.
    const unknown = tasks.filter((t) => {
      const a = answers.get(t)!;
      return !a.ok && TRANSIENT_CLOSE_CODES.has(a.code);
    });
    const half = tasks.length > 1 && (applied.length > 0 || unknown.length > 0);
    log.error('a ps task did not close a replica step', { job: this.jobId, code: closed.code, message: closed.message, applied, unknown, half });
    if (half) this.o.diverged(closed);
    return closed;
  }

  /**
   * Lets the step's holds go on their tasks, nothing applied (a no-op once closed). A
   * round's parts are not dropped one by one: a stage's part for the round may be a new
   * replica's by now (its worker holds one a round), and the round's close lets every
   * part it does not name go.
   */
  drop(step: TaskStep): void {
    if (step.settled) return;
    step.settled = true;
    if (step.round !== null) return;
    for (const [task, holds] of step.holds) {
      void this.cluster.request(task, 'step:drop', { jobId: this.jobId, holds }).then((r) => {
        if (!r.ok && r.code !== ErrorCode.UNKNOWN_JOB) log.warn('ps task did not drop a replica step', { job: this.jobId, task, code: r.code });
      });
    }
  }
}

/**
 * Codes a task gives only a client that misbehaves on its socket: an honest stage never
 * meets them, and a claim of one would be answered to every stage of the step, each a
 * strike on its socket (server/worker/socket-guard.ts) at no fault of the claimer's.
 */
const NEVER_AN_HONEST_REFUSAL: ReadonlySet<string> = new Set<ErrorCode>([ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_EVENT, ErrorCode.RATE_LIMITED]);

/** A stage's claim of a task's refusal, as a code: an unknown one, or one no honest stage meets, is a false receipt, the claimer's fault. */
function knownCode(code: string): ErrorCode {
  if (!(ALL_ERROR_CODES as readonly string[]).includes(code) || NEVER_AN_HONEST_REFUSAL.has(code)) return ErrorCode.BAD_RECEIPT;
  return code as ErrorCode;
}

/**
 * The chief's side of a closed step (RemoteParameterService.push): the tasks' new
 * versions raise what the chief knows they hold (`known`, per used task), and the
 * global step moves once (`advance`), as for one push.
 */
export async function closeStep(steps: TaskStageSteps, step: TaskStep, used: readonly number[], known: number[], advance: () => number): Promise<Result<PushAccepted>> {
  const closed = await steps.close(step);
  if (!closed.ok) return closed;
  for (const { task, version } of closed.versions) {
    const i = used.indexOf(task);
    if (i >= 0) known[i] = Math.max(known[i]!, version);
  }
  // Staleness is each task's (they answered the stages); the chief sees none.
  return ok({ version: advance(), staleness: 0 });
}
