/**
 * Synchronous rounds (sync and local modes). For version v the barrier gathers one
 * gradient per worker assigned when the round opened into buffers allocated once
 * (round-gradients.ts), and when all but `backupWorkers` of them have pushed it
 * combines them (mean, coordinate-wise median or trimmed mean, or Multi-Krum), applies once and
 * publishes v + 1 (synchronous SGD with backup workers, Chen et al. 2016). Acks are
 * held until the round closes, so a worker computes its next gradient on the round's
 * result.
 *
 * Nothing can deadlock a round: a worker that leaves before pushing is no longer
 * waited for, and a round with at least one push closes with what it has after
 * `roundTimeoutMs`. A push for a closed round is refused LATE (and counted by the
 * job); a second push by the same worker for the open round is refused ALREADY_PUSHED.
 * Node runs each push's validation and summation without yielding, so two racing
 * pushes cannot both close a round: the apply happens exactly once per version.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { Timer } from '../clock.js';
import type { DecodedGradient } from '../params/gradient.js';
import type { Admission, ConsistencyMode, ModeContext } from './consistency-mode.js';
import type { AggregationRule } from './robust-aggregation.js';
import { RoundExcuses } from './round-excuses.js';
import { createRoundGradients, type RoundGradients } from './round-gradients.js';

export interface SyncBarrierOptions {
  /** The round closes once all but this many of its workers pushed. */
  backupWorkers: number;
  /** A round holding at least one push closes with what it has after this long. */
  roundTimeoutMs: number;
  /** How the round's gradients are combined (spec.aggregation, spec.trimFraction). */
  aggregation: AggregationRule;
}

interface Round {
  version: number;
  /** Workers assigned when the round opened and not gone since without pushing. */
  expected: Set<string>;
  pushed: Set<string>;
  acks: ((r: Result<PushAccepted>) => void)[];
  timer: Timer;
}

export class SyncBarrier implements ConsistencyMode {
  rounds = 0;
  /** Rounds that closed on their deadline rather than their quorum. */
  timedOut = 0;
  private readonly gradients: RoundGradients;
  private open: Round | null = null;
  private readonly excuses = new RoundExcuses();

  constructor(
    private readonly ctx: ModeContext,
    private readonly options: SyncBarrierOptions,
  ) {
    this.gradients = createRoundGradients(ctx.store.tensors.map((t) => t.values.length), options.aggregation);
  }

  admit(workerId: string, baseVersion: number): Admission | Failure {
    const version = this.ctx.store.version;
    if (baseVersion > version) return fail(ErrorCode.FUTURE_VERSION, `Base version ${baseVersion} is ahead of the server's ${version}`);
    if (baseVersion < version) {
      return fail(ErrorCode.LATE, `Round ${baseVersion} has closed; the parameters are at version ${version}: pull and compute on them`);
    }
    if (this.open?.pushed.has(workerId)) return fail(ErrorCode.ALREADY_PUSHED, `This worker already pushed for round ${version}`);
    return { staleness: 0, lrScale: 1 };
  }

  accept(workerId: string, _admission: Admission, gradient: DecodedGradient): Promise<Result<PushAccepted>> {
    const round = this.open ?? this.openRound();
    this.gradients.add(gradient);
    round.pushed.add(workerId);
    const answer = new Promise<Result<PushAccepted>>((resolve) => round.acks.push(resolve));
    this.closeIfDue();
    return answer;
  }

  leave(workerId: string): void {
    const round = this.open;
    if (!round) return this.excuses.excuse(this.ctx.store.version, workerId);
    if (round.pushed.has(workerId)) return; // a gradient already given stays in the round
    round.expected.delete(workerId);
    this.closeIfDue();
  }

  halt(reason: Failure): void {
    const round = this.open;
    if (!round) return;
    this.ctx.clock.clear(round.timer);
    this.open = null;
    this.gradients.clear();
    for (const ack of round.acks) ack(reason);
  }

  /** Workers of the open round that have neither pushed nor left. */
  get waitingFor(): number {
    const round = this.open;
    if (!round) return 0;
    let n = 0;
    for (const w of round.expected) if (!round.pushed.has(w)) n += 1;
    return n;
  }

  private openRound(): Round {
    const round: Round = {
      version: this.ctx.store.version,
      expected: new Set(this.ctx.activeWorkers()),
      pushed: new Set(),
      acks: [],
      timer: this.ctx.clock.setTimeout(() => {
        this.timedOut += 1;
        this.close();
      }, this.options.roundTimeoutMs),
    };
    this.excuses.opened(round.version, round.expected);
    this.open = round;
    return round;
  }

  private closeIfDue(): void {
    if (this.open && this.open.pushed.size > 0 && this.waitingFor <= this.options.backupWorkers) this.close();
  }

  /**
   * Combines the round's gradients, applies the result once, answers every held ack.
   * The aggregate is written into the store's gradient buffer, where the store applies
   * it without a copy (no decoded gradient is alive here: each was copied at accept).
   */
  private close(): void {
    const round = this.open;
    if (!round) return;
    this.ctx.clock.clear(round.timer);
    this.open = null;
    const aggregate = this.gradients.aggregateInto(this.ctx.store.gradientBuffer);
    const version = this.ctx.store.apply(aggregate);
    this.rounds += 1;
    for (const ack of round.acks) ack(ok({ version, staleness: 0 }));
  }
}
