/**
 * Sync and local rounds of a job on ps tasks, as the chief owns them. The chief decides
 * what the in-process barrier (server/consistency/sync-barrier.ts) decides, with the
 * same rules: a round opens at its first push, waits for the workers assigned then
 * (all but `backupWorkers` of them, none that left without pushing), and closes with
 * what it has `roundTimeoutMs` after it opened. The gradients are not here: each task
 * holds its slices of every push (server/ps-task/task-round.ts), and a worker's notice
 * joins the round only with every task's receipt that it holds that push for this round.
 *
 * Closing sends every task `round:close {round, members}` (the workers whose notices
 * joined), fenced by the chief's credential like every control message. Each task
 * combines those members' slices with the job's rule and applies once; the round is
 * closed when every task has closed it, and only then are the held answers given, so a
 * worker pulls the round's result from every task. A push for a closed (or closing)
 * round is LATE; a second notice for the open round ALREADY_PUSHED.
 *
 * A split job's member is a replica (docs/model-parallelism.md, "Split jobs in round
 * modes"): its complete step joins with the holds its stages' parts have on each task
 * (`join(replica, round, step)`), and the close names it on each task by the stage
 * workers holding its parts there. A worker's part counts once a round: a step naming a
 * worker already in the round (its old replica's, before a re-forming) is ALREADY_PUSHED.
 *
 * Closes and checkpoint cuts go through the job's one CloseGate (close-gate.ts), with
 * its replica steps' closes: a cut never lands between a round's close on one task and
 * on another. A round that comes due while a cut is taken waits for it and takes the
 * pushes that join meanwhile.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { Clock, Timer } from '../clock.js';
import { createLogger } from '../logger.js';
import { RoundExcuses } from '../consistency/round-excuses.js';
import type { CloseGate } from './close-gate.js';
import { closeWithRetry } from './round-close-retry.js';
import type { TaskStep } from './task-stage-steps.js';

const log = createLogger('chief-rounds');

export interface ChiefRoundsOptions {
  /** The round closes once all but this many of its workers pushed. */
  backupWorkers: number;
  /** A round holding at least one push closes with what it has after this long. */
  roundTimeoutMs: number;
  /** Waits before asking the tasks again for a close one of them missed. Default CLOSE_RETRY_DELAYS_MS. */
  closeRetryDelaysMs?: readonly number[];
}

export interface ChiefRoundsContext {
  clock: Clock;
  /** The job's assigned workers right now (a round's quorum is taken from them when it opens). */
  activeWorkers: () => ReadonlySet<string>;
  /** Closes round `round` on every task with `members`; resolves when every task has answered. Idempotent on the tasks. */
  closeOnTasks: (round: number, members: RoundMember[]) => Promise<Result>;
  /** The job's gate between closes and checkpoint cuts: every round's close runs through it. */
  gate: CloseGate;
  /** A close failed for good (retries spent, or a refusal no retry changes): the tasks' versions may be apart until they are rolled back. */
  diverged?: (why: Failure) => void;
}

/** A round's member as its close names it: a worker, or a split job's replica with its step's holds on each task. */
export interface RoundMember {
  id: string;
  step?: TaskStep;
}

interface OpenRound {
  round: number;
  expected: Set<string>;
  /** Members whose notices joined, in order (a replica with its step). */
  pushed: Map<string, TaskStep | undefined>;
  /** A split job's stage workers in the round's steps: each counts once a round. */
  stageWorkers: Set<string>;
  acks: ((r: Result<PushAccepted>) => void)[];
  timer: Timer;
  deadlinePassed: boolean;
}

export class ChiefRounds {
  rounds = 0;
  /** Rounds that closed on their deadline rather than their quorum. */
  timedOut = 0;
  /** The open round's number: every task's version of the job. */
  private next = 0;
  private open: OpenRound | null = null;
  private readonly excuses = new RoundExcuses();
  /** The close asked, if any: waiting for the gate (the round still takes pushes) or under way on the tasks. */
  private closing: Promise<void> | null = null;
  /** The round whose close is under way on the tasks (its members fixed): it takes no more pushes. */
  private sealed: OpenRound | null = null;
  /**
   * Counts restarts, with the reason of the last: a close sealed before one settles
   * nothing when it ends (the restarted rounds are the tasks' now), its answers refused.
   */
  private generation = 0;
  private restartReason: Failure | null = null;

  constructor(
    private readonly ctx: ChiefRoundsContext,
    private readonly options: ChiefRoundsOptions,
    /** Counts a closed round (the job's global step) and gives the version its answers carry. */
    private readonly onClosed: () => number,
  ) {}

  /** The round a push must be held for (the tasks' version). */
  get round(): number {
    return this.next;
  }

  /**
   * `workerId`'s push, which every task holds for `round`: joins the open round and is
   * answered when it closes; refused at once when it cannot join.
   */
  join(workerId: string, round: number, step?: TaskStep): Failure | Promise<Result<PushAccepted>> {
    if (round < this.next || (this.sealed && round === this.next)) return fail(ErrorCode.LATE, `Round ${round} has closed: pull and compute on the next`);
    if (round > this.next || this.sealed) return fail(ErrorCode.FUTURE_VERSION, `Round ${round} is not open yet (round ${this.next} is)`);
    if (this.open?.pushed.has(workerId)) return fail(ErrorCode.ALREADY_PUSHED, `This worker already pushed for round ${round}`);
    const workers = step ? [...new Set([...step.holds.values()].flatMap((refs) => refs.map((r) => r.worker)))] : [];
    const twice = workers.find((w) => this.open?.stageWorkers.has(w));
    if (twice !== undefined) return fail(ErrorCode.ALREADY_PUSHED, `Stage worker ${twice} already has its part in round ${round} (in another replica's step)`);
    const open = this.open ?? this.openRound();
    open.pushed.set(workerId, step);
    for (const w of workers) open.stageWorkers.add(w);
    const answer = new Promise<Result<PushAccepted>>((resolve) => open.acks.push(resolve));
    this.closeIfDue();
    return answer;
  }

  /** A worker left the job, or a task refused its push: the open round stops waiting for it (a push that joined stays). */
  leave(workerId: string): void {
    const open = this.open;
    if (!open) return this.excuses.excuse(this.next, workerId);
    if (open.pushed.has(workerId)) return;
    open.expected.delete(workerId);
    this.closeIfDue();
  }

  /** The job stopped: the open round is dropped and its held answers refused. The tasks drop their held pushes at their next close or re-creation. */
  halt(reason: Failure): void {
    const open = this.open;
    if (!open) return;
    this.ctx.clock.clear(open.timer);
    this.open = null;
    for (const ack of open.acks) ack(reason);
  }

  /**
   * The tasks' slices were re-created or loaded (a restore): their versions, and so the
   * rounds, start again at `round`. A close under way settles nothing when it ends.
   */
  restart(reason: Failure, round = 0): void {
    this.halt(reason);
    this.next = round;
    this.generation += 1;
    this.restartReason = reason;
    // A close still retried for the round before is no longer this round's: the restarted one takes pushes.
    this.sealed = null;
  }

  /** Workers of the open round that have neither pushed nor left. */
  get waitingFor(): number {
    const open = this.open;
    if (!open) return 0;
    let n = 0;
    for (const w of open.expected) if (!open.pushed.has(w)) n += 1;
    return n;
  }

  private openRound(): OpenRound {
    const open: OpenRound = {
      round: this.next,
      expected: new Set(this.ctx.activeWorkers()),
      pushed: new Map(),
      stageWorkers: new Set(),
      acks: [],
      timer: this.ctx.clock.setTimeout(() => {
        open.deadlinePassed = true;
        this.closeIfDue();
      }, this.options.roundTimeoutMs),
      deadlinePassed: false,
    };
    this.excuses.opened(open.round, open.expected);
    this.open = open;
    return open;
  }

  private closeIfDue(): void {
    const open = this.open;
    if (!open || this.closing || open.pushed.size === 0) return;
    const quorum = this.waitingFor <= this.options.backupWorkers;
    if (!quorum && !open.deadlinePassed) return;
    if (!quorum) this.timedOut += 1;
    // Through the gate: a cut under way ends first (the round takes pushes meanwhile), and none starts while this closes.
    this.closing = this.ctx.gate
      .close(() => this.close(open))
      .finally(() => {
        this.closing = null;
        // A round halted while its close waited for a cut: the next round may be due already.
        this.closeIfDue();
      });
  }

  private async close(open: OpenRound): Promise<void> {
    // Halted (the job stopped, or was restored) while the close waited for the gate: its answers were given.
    if (this.open !== open) return;
    this.ctx.clock.clear(open.timer);
    this.open = null;
    this.sealed = open;
    try {
      await this.closeSealed(open);
    } finally {
      if (this.sealed === open) this.sealed = null;
    }
  }

  private async closeSealed(open: OpenRound): Promise<void> {
    const members = [...open.pushed].map(([id, step]): RoundMember => (step ? { id, step } : { id }));
    const generation = this.generation;
    const closed = await closeWithRetry(this.ctx.clock, () => this.ctx.closeOnTasks(open.round, members), this.options.closeRetryDelaysMs, String(open.round));
    if (generation !== this.generation) {
      // Restarted meanwhile: whatever the tasks answered, the round and the global step are the restart's.
      const reason = this.restartReason!;
      for (const ack of open.acks) ack(reason);
      return;
    }
    if (!closed.ok) {
      // The tasks' versions may be apart: the job is held and its tasks rolled back (ps-task-recovery.ts).
      log.error('a ps task did not close a round', { round: open.round, code: closed.code, message: closed.message });
      for (const ack of open.acks) ack(closed);
      this.ctx.diverged?.(closed);
      return;
    }
    this.next = open.round + 1;
    this.rounds += 1;
    const version = this.onClosed();
    for (const ack of open.acks) ack(ok({ version, staleness: 0 }));
  }
}
