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
 * What is left to a close: a task that restarted, or evicted a hold (its bounds), or
 * stopped answering, refuses or misses it while others apply theirs; the step is then
 * refused to the replica (its batches requeued) and logged. Async pushes across tasks
 * have the same exposure (docs/cluster.md); an honest stage never causes it.
 */
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { Placement } from '../../shared/placement.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { PsHoldRef } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { HoldLedger } from '../cluster/hold-receipts.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { createLogger } from '../logger.js';

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
}

export class TaskStageSteps {
  /** Per tensor name, its slices' (task, name) in the placement's order. */
  private readonly slicesOf: Map<string, { task: number; name: string; index: number }[]>;

  constructor(
    private readonly jobId: string,
    tensors: readonly TensorSpec[],
    private readonly placement: Placement,
    private readonly cluster: PsCluster,
    private readonly ledger: HoldLedger,
  ) {
    this.slicesOf = new Map(tensors.map((t, i) => [t.name, placement.byTask.flatMap((slices, task) => slices.flatMap((s, index) => (s.tensor === i ? [{ task, name: s.name, index }] : [])))]));
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
    let refusal: Failure | null = null;
    let refused: number | null = null;
    parts.forEach((p, stage) => {
      const expected = this.slicesByTask(p.tensors);
      const seen = new Set<number>();
      for (const r of p.receipts ?? []) {
        const slices = expected.get(r.task);
        const bad = seen.has(r.task) || !slices ? fail(ErrorCode.BAD_RECEIPT, `ps task ${r.task} holds no slice of stage ${stage}'s tensors, or has two receipts`) : this.ledger.check({ task: r.task, job: this.jobId, worker: p.worker, hold: r.version, slices }, r.receipt);
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
    return { step: { holds, settled: false }, refusal, stage: refused };
  }

  /**
   * Applies the step: `step:close` on every task holding part of it, in parallel. The
   * holds are redeemed first (a receipt counts once). Answers each task's new version,
   * or the first task's refusal.
   */
  async close(step: TaskStep): Promise<Result<{ versions: { task: number; version: number }[] }>> {
    if (step.settled) return fail(ErrorCode.CONFLICT, 'This replica step was closed or dropped already');
    step.settled = true;
    for (const [task, refs] of step.holds) for (const r of refs) this.ledger.use(task, r.hold);
    const tasks = [...step.holds.keys()];
    const answers = await Promise.all(tasks.map((task) => this.cluster.request(task, 'step:close', { jobId: this.jobId, holds: step.holds.get(task)! })));
    const refused = answers.findIndex((a) => !a.ok);
    if (refused < 0) return ok({ versions: answers.map((a, i) => ({ task: tasks[i]!, version: (a as { version: number }).version })) });
    const r = answers[refused] as Failure;
    // The other tasks may have applied theirs: the step is partly applied (see the file's comment).
    log.error('a ps task did not close a replica step', { job: this.jobId, task: tasks[refused], code: r.code, message: r.message, applied: answers.filter((a) => a.ok).length });
    return { ...r, message: `ps task ${tasks[refused]}: ${r.message}` };
  }

  /** Lets the step's holds go on their tasks, nothing applied (a no-op once closed). */
  drop(step: TaskStep): void {
    if (step.settled) return;
    step.settled = true;
    for (const [task, holds] of step.holds) {
      void this.cluster.request(task, 'step:drop', { jobId: this.jobId, holds }).then((r) => {
        if (!r.ok && r.code !== ErrorCode.UNKNOWN_JOB) log.warn('ps task did not drop a replica step', { job: this.jobId, task, code: r.code });
      });
    }
  }
}

/** A task's refusal code as the worker relays it; BAD_REQUEST when it is none of ours. */
function knownCode(code: string): ErrorCode {
  return (ALL_ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : ErrorCode.BAD_REQUEST;
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
