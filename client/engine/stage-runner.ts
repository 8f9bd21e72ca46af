/**
 * One stage of a model replica at work (docs/model-parallelism.md), over any link to its
 * neighbours (the coordinator's relay now, a WebRTC data channel later). Stage 0 leases
 * shards, cuts each mini-batch into the job's micro-batches and sends each forward as
 * soon as it is computed, with its labels; every stage passes what it receives on
 * (forward to the next, gradients back to the previous), the last computing the loss,
 * so the stages work at once on different micro-batches (GPipe). Where the replica
 * overlaps (ReplicaAssignment.depth > 1) stage 0 sends mini-batches n + 1 … n + depth − 1
 * forward while n comes back ("Overlap across the flush" in the doc); else it
 * waits for every micro-batch to come back before the next mini-batch. After a mini-batch that
 * closes a push, each stage pushes its own tensors' gradient for the replica's step
 * and, every nFetch pushes, pulls its own tensors, both overlapped with the next
 * mini-batch (stage-exchange.ts: one step outstanding at most; in the round modes each
 * push waits for its round, and local mode steps each stage's layers after every
 * mini-batch and pushes their delta every localSteps). Frames are handled one at a time,
 * in the order they arrive; a frame that fails its check stops the stage, which sends
 * its neighbour an abort frame by the coordinator's relay: the coordinator dissolves the
 * replica on it, and the stage waits for its next one (StepAborted, as does the
 * neighbour that receives the abort).
 */
import { codecOf } from '../../shared/codec.js';
import { abortFrame, decodeFrame, encodeFrame, type ActivationFrame, type FrameFields } from '../../shared/activation-frame.js';
import type { CompleteAnswer, GradientPush, JobAssignment, LeaseAnswer, ParamsSnapshot, PullRequest, PushAccepted, ShardLeaseGrant } from '../../shared/protocol.js';
import type { ReplicaAssignment, ReplicaReport, StagePath } from '../../shared/replica-protocol.js';
import type { Result } from '../../shared/result.js';
import type { DecodedShard } from '../../shared/shard-format.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import type { Batch } from './model-trainer.js';
import { batchesOf } from './shard-data.js';
import { MODES } from '../../shared/modes.js';
import { StageExchange, type PushClaim } from './stage-exchange.js';
import { PieceCompletions, StageLeases } from './stage-leases.js';
import { StageLocalSteps } from './stage-local-steps.js';
import { StageMeter } from './stage-meter.js';
import { StagePhases, type PhaseTotals, type StagePhase } from './stage-phases.js';
import { microbatches, type StageTrainer } from './stage-trainer.js';

/** What a stage asks of the coordinator. */
export interface StageServer {
  pull(req: PullRequest): Promise<Result<ParamsSnapshot>>;
  push(push: GradientPush): Promise<Result<PushAccepted>>;
  lease(): Promise<Result<LeaseAnswer>>;
  complete(leaseId: string): Promise<Result<CompleteAnswer>>;
  fetchShard(url: string): Promise<DecodedShard>;
}

export interface StageEvents {
  /** A push of this stage was answered. */
  pushed?: (r: Result<PushAccepted>, examples: number, batches: number) => void;
  /** The stage worked for `ms` on its own thread (a forward, a backward, a loss; encoding or decoding a frame or a push, reading its gradient, loading a pull: stage-phases.ts's OWN_WORK): its busy time. */
  busy?: (ms: number) => void;
  /** Mini-batch `step` started at this stage, `earlier` mini-batches still in flight here (1 across the flush). */
  started?: (step: number, earlier: number) => void;
  /** The stage stopped (its replica dissolved, a bad frame, a refusal): the reason, once. */
  stopped?: (reason: Error) => void;
  /** Sends an abort frame to the neighbour `to` by the coordinator's relay, whatever way the other frames go, so that the coordinator sees it. Default: as any frame. */
  sendAbort?: (to: string, frame: Uint8Array) => void;
}

/** Refusals after which stage 0 drops its lease and leases again (as the data-parallel shard loop does). */
const LEASE_GONE = new Set(['LEASE_LOST', 'UNKNOWN_LEASE', 'WORKER_BARRED']);

/** Why a stage stopped: its replica dissolved, a neighbour sent a bad frame, the coordinator refused it. */
export class StageStopped extends Error {}

/** The step was aborted, by this stage (a neighbour's bad frame) or by a neighbour: the coordinator dissolves the replica; the stage waits for that, it does not leave. */
export class StepAborted extends StageStopped {}

/** A neighbour's frame this stage cannot take. */
class BadFrame extends StageStopped {}

/** What a push closed by a mini-batch claims (its lease is the stage's to add). */
type Closed = Omit<PushClaim, 'leaseId'>;

/** A mini-batch in flight at this stage. */
interface OpenBatch {
  /** Micro-batches not yet done here. */
  left: number;
  closesPush: boolean;
  examples: number;
  /** Stage 0: told when every micro-batch came back, with the push it closes (null when it closes none). */
  back?: { resolve: (c: Closed | null) => void; reject: (e: Error) => void };
}

export class StageRunner {
  private readonly replica: ReplicaAssignment;
  /** Its pushes and pulls, overlapped with its computing. */
  private readonly exchange: StageExchange;
  /** Its figures since it began, for `replica:report`. */
  private readonly meter: StageMeter;
  /** Where its wall time goes, phase by phase (read by the bench); its own work counts on its meter as busy. */
  private readonly phases: StagePhases;
  /** Local mode: the stage's own optimizer and round start. */
  private readonly local: StageLocalSteps | null;
  /** Mini-batches per push: nPush, or localSteps in local mode (stage 0 marks the last of them in its frames). */
  private readonly pushEvery: number;
  private frames: Promise<void> = Promise.resolve();
  private stopped: Error | null = null;
  /** The coordinator refused the stage (its replica is gone): stage 0's loop throws it. */
  private refused: StageStopped | null = null;
  /** Per mini-batch in flight at this stage. */
  private readonly open = new Map<number, OpenBatch>();
  /** Stage 0's mini-batches in flight at most (ReplicaAssignment.depth; 1 in a round mode): the next go forward while the oldest comes back. */
  private readonly depth: number;
  private batchesSincePush = 0;
  private examplesSincePush = 0;
  private nextBatch = 0;
  /** The last mini-batch this stage handled a frame of (an abort names it). */
  private lastStep = 0;

  constructor(
    private readonly job: JobAssignment,
    private readonly trainer: StageTrainer,
    private readonly server: StageServer,
    /** Sends a frame to the neighbour `to` (a worker id). */
    private readonly send: (to: string, frame: Uint8Array) => void,
    private readonly events: StageEvents = {},
  ) {
    if (!job.replica) throw new Error('A stage runner needs a replica assignment');
    this.replica = job.replica;
    const accumulator = new GradientAccumulator(trainer.specs, codecOf(job));
    // A round mode computes each step on its round's result: every push waits for the round and is followed by a pull.
    const rounds = MODES[job.mode.name].rounds;
    const depth = rounds ? 1 : this.replica.depth;
    this.local = job.mode.name === 'local' ? new StageLocalSteps(trainer, job.mode.optimizer) : null;
    this.pushEvery = job.mode.name === 'local' ? job.mode.localSteps : job.nPush;
    this.meter = new StageMeter();
    this.phases = new StagePhases({
      begin: () => this.meter.begin(),
      end: (ms) => {
        this.meter.end();
        this.events.busy?.(ms);
      },
    });
    this.exchange = new StageExchange(
      job.jobId,
      this.replica.tensors,
      rounds ? 1 : job.nFetch,
      trainer,
      accumulator,
      server,
      (r, examples, batches) => this.events.pushed?.(r, examples, batches),
      depth,
      this.local,
      this.phases,
    );
    this.depth = depth;
  }

  /** Its figures in the replica so far (cumulative), its frames having gone by `path`. */
  report(path: StagePath): ReplicaReport {
    return { ...this.meter.report(this.replica.replicaId, path), phases: this.phases.read() };
  }

  /** Its time so far per phase (cumulative milliseconds). */
  phaseTotals(): PhaseTotals {
    return this.phases.read();
  }

  /** Pulls the stage's own tensors into its layers. */
  async pull(): Promise<void> {
    const snap = await this.exchange.pullNow();
    if (!snap.ok) throw new StageStopped(`Pull refused: ${snap.code}: ${snap.message}`);
  }

  /** At mini-batch `step`'s start: the parameters pulled since the last one, if any (StageExchange.fresh keeps the staleness bound). */
  private async adoptFresh(step: number): Promise<void> {
    const snap = await this.exchange.fresh(step);
    if (snap && !snap.ok) throw new StageStopped(`Pull refused: ${snap.code}: ${snap.message}`);
  }

  /** A neighbour's frame: handled after those before it. */
  receive(from: string, bytes: Uint8Array): void {
    if (from === this.replica.prev) this.meter.receivedFrom('prev', bytes.byteLength);
    else if (from === this.replica.next) this.meter.receivedFrom('next', bytes.byteLength);
    this.frames = this.frames.then(() => (this.stopped ? undefined : this.handle(from, bytes))).catch((err: unknown) => this.failed(from, err));
  }

  /** Handling `from`'s frame failed: a refusal of its own ends the stage; a frame it cannot take aborts the step. */
  private failed(from: string, err: unknown): void {
    if (err instanceof StageStopped && !(err instanceof BadFrame)) return this.stop(err);
    // A frame that passed its check can still be impossible here (a micro-batch not in flight): the neighbour's fault too.
    const why = err instanceof Error ? err.message : String(err);
    if (!this.stopped && (from === this.replica.prev || from === this.replica.next)) {
      const bytes = abortFrame(this.lastStep, this.replica.activationCodec);
      this.meter.sentTo(from === this.replica.prev ? 'prev' : 'next', bytes.byteLength);
      (this.events.sendAbort ?? this.send)(from, bytes);
    }
    this.stop(new StepAborted(`A bad frame from ${from}: ${why}`));
  }

  /** Ends the stage's work: the step in flight is abandoned, nothing more is sent or pushed. */
  stop(reason: Error): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.trainer.abandonStep();
    for (const o of this.open.values()) o.back?.reject(reason);
    this.local?.dispose();
    this.open.clear();
    this.events.stopped?.(reason);
  }

  get stopReason(): Error | null {
    return this.stopped;
  }

  /**
   * Stage 0's loop: leases, trains and completes pieces of shards until stopped or
   * `stillOn` turns false. The pipeline runs on across a piece's end: the next piece is
   * asked for while the current one's last mini-batches go forward (StageLeases), and a
   * piece is completed in the background once its last push is answered, so only the
   * end of the data (no piece free) drains it. A round mode (one mini-batch in flight)
   * still completes each piece before it asks for the next.
   */
  async run(stillOn: () => boolean, retryMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
    if (this.replica.stage !== 0) throw new Error('Only stage 0 leases shards');
    const leases = new StageLeases(this.server, (message) => new StageStopped(message));
    /** Per mini-batch sent forward, oldest first, across pieces: resolves once it is back and the push it closes (if any) is taken. */
    const inFlight: Promise<void>[] = [];
    const completing = new PieceCompletions();
    while (!this.stopped && stillOn()) {
      completing.throwIfFailed();
      const got = await this.phases.time('lease', () => leases.next());
      if (got === 'limit' && completing.size) {
        // The job allows no piece beyond the ones held: the one being completed makes room.
        await this.phases.time('wait-previous', () => completing.any());
        continue;
      }
      if (got === 'none' || got === 'limit') {
        // No piece free now (the data's end): what is in flight comes back and is completed, then it asks again.
        await this.drain(inFlight, completing);
        if (this.halted()) return;
        await sleep(retryMs);
        continue;
      }
      const sent = await this.sendPiece(got.lease, got.shard, inFlight, leases);
      if (!sent) return;
      const { completion } = sent;
      completing.add(completion);
      // A round mode asks for its next piece only once this one is complete: a worker told "no piece" leaves the
      // open round (the data's end), and its last push, still on its way, would then come too late for it.
      if (this.depth === 1) await this.phases.time('wait-previous', () => completion);
    }
    if (!this.halted()) await this.drain(inFlight, completing);
    completing.throwIfFailed();
  }

  /**
   * Sends `lease`'s mini-batches forward, asking for the next piece as its last `depth`
   * go (depth > 1); resolves with what completes the piece once its last push is answered
   * (wrapped: an async function returning the promise itself would wait for it; null: the
   * stage stopped). A lost lease is seen at a push's answer: its mini-batches already
   * forward are pushed all the same (every stage counts steps alike), and refused too.
   */
  private async sendPiece(lease: ShardLeaseGrant, shard: DecodedShard, inFlight: Promise<void>[], leases: StageLeases): Promise<{ completion: Promise<void> } | null> {
    const batches = [...batchesOf(shard, this.job.batchSize, { order: lease.order, batches: lease.batches })];
    let lost = false;
    const answered = (r: Result<PushAccepted>) => (lost ||= !r.ok && LEASE_GONE.has(r.code));
    const mine: Promise<void>[] = [];
    for (let i = 0; i < batches.length && !lost; i++) {
      if (this.halted()) return null;
      const closesPush = (i + 1) % this.pushEvery === 0 || i === batches.length - 1;
      // Mini-batch s starts once s − depth is back and its push taken; fresh(s) then waits for that push's answer.
      while (inFlight.length >= this.depth) await this.phases.time('wait-back', () => inFlight.shift()!);
      await this.adoptFresh(this.nextBatch);
      if (lost || this.halted()) break;
      if (this.depth > 1 && batches.length - i <= this.depth) leases.askAhead();
      const { back } = await this.miniBatch(batches[i]!, closesPush);
      // Pushed the moment it is back, in mini-batch order (backs resolve in order), not when the loop next looks.
      const sent = unawaited(back.then((closed) => (closed ? this.pushOwn(lease.leaseId, closed, answered) : undefined)));
      inFlight.push(sent);
      mine.push(sent);
    }
    if (this.halted()) return null;
    // The piece's last push must be committed before the piece is complete; the next piece's mini-batches go forward meanwhile.
    const completion = unawaited(
      (async () => {
        await Promise.all(mine);
        await this.exchange.settle();
        if (!lost && !this.stopped) await this.server.complete(lease.leaseId);
      })(),
    );
    return { completion };
  }

  /** Waits for every mini-batch in flight to come back, every push to be answered and every piece to be complete. */
  private async drain(inFlight: Promise<void>[], completing: PieceCompletions): Promise<void> {
    while (inFlight.length) await this.phases.time('wait-back', () => inFlight.shift()!);
    await this.phases.time('wait-previous', async () => {
      await this.exchange.settle();
      await completing.all();
    });
  }

  /** Stage 0: one mini-batch into the pipeline, its micro-batches sent as each is computed; resolves once all are sent, with what resolves when all are back. */
  private async miniBatch(batch: Batch, closesPush: boolean): Promise<{ back: Promise<Closed | null> }> {
    const micros = microbatches(batch, this.replica.microbatches);
    const step = this.nextBatch++;
    this.lastStep = step;
    const open: OpenBatch = { left: micros.length, closesPush, examples: batch.size };
    this.events.started?.(step, this.open.size);
    const back = new Promise<Closed | null>((resolve, reject) => (open.back = { resolve, reject }));
    // Whoever awaits it gets its rejection (a stop); a stop before anyone awaits it is no unhandled one.
    back.catch(() => {});
    this.open.set(step, open);
    for (let m = 0; m < micros.length; m++) {
      const micro = micros[m]!;
      const out = await this.timed('forward', () => this.trainer.forward(m, micro.features, micro.size, step));
      if (this.stopped) throw this.stopped;
      this.meter.forwarded(micro.size);
      this.sendFrame(this.replica.next!, { kind: 'forward', step, closesPush, micro: m, micros: micros.length, examples: micro.size, miniBatch: batch.size, shape: this.trainer.outputShape, values: out, labels: micro.labels });
    }
    // Wrapped: an async function returning the promise itself would wait for it.
    return { back };
  }

  /** The stage's own computing, as its busy time (and its phase). */
  private timed<T>(phase: StagePhase, work: () => Promise<T>): Promise<T> {
    return this.phases.time(phase, work);
  }

  private sendFrame(to: string, f: FrameFields): void {
    this.phases.timeSync('send-frame', () => {
      const bytes = encodeFrame(f, this.replica.activationCodec);
      this.meter.sentTo(to === this.replica.prev ? 'prev' : 'next', bytes.byteLength);
      this.send(to, bytes);
    });
  }

  private async handle(from: string, bytes: Uint8Array): Promise<void> {
    const forward = from === this.replica.prev;
    if (!forward && from !== this.replica.next) throw new BadFrame(`A frame from ${from}, who is not a neighbour`);
    const frame = this.phases.timeSync('decode-frame', () =>
      decodeFrame(bytes, {
        shape: forward ? this.trainer.inputShape : this.trainer.outputShape,
        codec: this.replica.activationCodec,
        maxExamples: this.job.batchSize,
        numClasses: this.job.dataset.numClasses,
      }),
    );
    if ('ok' in frame) throw new BadFrame(`${frame.code}: ${frame.message}`);
    if (frame.kind === 'abort') throw new StepAborted(`Stage ${forward ? 'before' : 'after'} this one aborted step ${frame.step}`);
    if (forward !== (frame.kind === 'forward')) throw new BadFrame(`A ${frame.kind} frame from the ${forward ? 'previous' : 'next'} stage`);
    this.lastStep = frame.step;
    if (forward) await this.forwardFrame(frame);
    else await this.backwardFrame(frame);
  }

  private async forwardFrame(f: ActivationFrame): Promise<void> {
    this.meter.forwarded(f.examples);
    if (!this.open.has(f.step)) {
      // A new mini-batch here (across the flush, the last may still be coming back: its micro-batches keep their parameters).
      await this.adoptFresh(f.step);
      this.events.started?.(f.step, this.open.size);
      this.open.set(f.step, { left: f.micros, closesPush: f.closesPush, examples: f.miniBatch });
    }
    if (this.trainer.isLast) {
      const dx = await this.timed('backward', () => this.trainer.lossAndBackward(f.values, f.labels, f.miniBatch, f.step));
      if (dx && !this.stopped) this.sendFrame(this.replica.prev!, { ...f, kind: 'backward', shape: this.trainer.inputShape, values: dx });
      await this.microDone(f.step);
      return;
    }
    const out = await this.timed('forward', () => this.trainer.forward(f.micro, f.values, f.examples, f.step));
    if (!this.stopped) this.sendFrame(this.replica.next!, { ...f, shape: this.trainer.outputShape, values: out });
  }

  private async backwardFrame(f: ActivationFrame): Promise<void> {
    const dx = await this.timed('backward', () => this.trainer.backward(f.micro, f.values, f.step));
    if (dx && this.replica.prev && !this.stopped) this.sendFrame(this.replica.prev, { ...f, shape: this.trainer.inputShape, values: dx });
    await this.microDone(f.step);
  }

  /** A micro-batch of mini-batch `step` is done at this stage; the last one may close a push. */
  private async microDone(step: number): Promise<void> {
    const open = this.open.get(step);
    if (!open) throw new BadFrame(`Mini-batch ${step} is not in flight here`);
    open.left -= 1;
    if (open.left > 0) return;
    this.open.delete(step);
    // Local mode steps the stage's layers now, before the next mini-batch goes forward through them.
    await this.exchange.miniBatchDone();
    // Mini-batches finish in order at every stage (frames keep their order), so the counts are those of the push it closes.
    this.batchesSincePush += 1;
    this.examplesSincePush += open.examples;
    let closed: Closed | null = null;
    if (open.closesPush) {
      closed = { batches: this.batchesSincePush, examples: this.examplesSincePush, through: step };
      this.batchesSincePush = 0;
      this.examplesSincePush = 0;
    }
    // Stage 0 pushes from its loop (it knows the lease); it only learns the mini-batch is back.
    if (open.back) return open.back.resolve(closed);
    // A later stage takes its push in the frame chain; it is sent once the previous one is answered, beside the frames that follow.
    if (closed) await this.pushOwn(this.replica.replicaId, closed);
  }

  /**
   * Takes the stage's gradient for the replica's step and queues its push; `onAnswer` hears
   * its answer. With one mini-batch in flight (depth 1) it waits for that answer, so the next
   * mini-batch starts on its commit; else the answer is waited for only by fresh(step).
   */
  private async pushOwn(leaseId: string, closed: Closed, onAnswer?: (r: Result<PushAccepted>) => void): Promise<void> {
    const { answer } = await this.exchange.push({ leaseId, ...closed });
    const handled = answer.then(
      (r) => {
        // The replica is gone: the stage ends (stage 0's loop throws it, as a refusal of its own).
        if (!r.ok && r.code === 'UNKNOWN_REPLICA') this.refuse(new StageStopped(`${r.code}: ${r.message}`));
        else onAnswer?.(r);
      },
      (err: unknown) => this.refuse(new StageStopped(`A push failed: ${err instanceof Error ? err.message : String(err)}`)),
    );
    if (this.depth === 1) await handled;
  }

  /** The coordinator refused the stage: it stops, and stage 0's loop throws the reason. */
  private refuse(reason: StageStopped): void {
    this.refused ??= reason;
    this.stop(reason);
  }

  /** Whether the stage stopped; a refusal of its own is thrown (stage 0's loop). */
  private halted(): boolean {
    if (this.refused) throw this.refused;
    return this.stopped !== null;
  }
}

/** A promise the runner may never await (it stopped first): its rejection is then no unhandled one; whoever awaits it still gets it. */
function unawaited<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
