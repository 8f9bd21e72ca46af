/**
 * The model replicas of a job whose model is split into stages (docs/model-parallelism.md):
 * the job's workers waiting for a replica, and the replicas formed. When K workers wait,
 * planStages cuts the layers among them by their measured speed (a fast worker takes
 * the heavy layers) and each is told its stage; fewer wait. A stage that leaves
 * dissolves its replica: the others are told, and go back to waiting (and into the
 * next replica formed). A replica is planned once, when it forms, never mid-step. A
 * barred worker (faults in a row, its own or its stage part's) dissolves its replica and
 * is placed in none until its bar ends. The members of a replica that stalled or aborted
 * its step are kept apart for a while (`apartMs`): the coordinator cannot tell which of
 * them held the others up, but it need not pair them again, so a staller meets a new
 * partner each time, and is the one whose faults add up.
 * Nothing here knows sockets: notices go through `notify`.
 */
import type { ActivationCodec } from '../../shared/job-spec.js';
import type { WorkerStage } from '../../shared/operator-protocol.js';
import type { ReplicaAssignment } from '../../shared/replica-protocol.js';
import { planStages, type LayerCost, type StagePlan } from '../../shared/stage-plan.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { createLogger } from '../logger.js';

const log = createLogger('replicas');

/**
 * The least busy fraction a stage's speed is estimated from: a stage busy less of the time
 * says little of its speed, and a report of a vanishing fraction (5e-324 of the time) would
 * make its speed, the rate over it, infinite.
 */
export const MIN_BUSY_FRACTION = 0.05;

export type ReplicaNotice = { kind: 'formed'; replica: ReplicaAssignment } | { kind: 'dissolved'; replicaId: string; reason: string };

export interface Replica {
  id: string;
  /** Worker ids in stage order. */
  members: readonly string[];
  plan: StagePlan;
  formedAt: number;
}

export interface ReplicaBoardOptions {
  /** Workers per replica (the job's stages, ≥ 2). */
  stages: number;
  microbatches: number;
  activationCodec: ActivationCodec;
  /** Mini-batches stage 0 keeps in flight (ReplicaAssignment.depth). */
  depth: number;
  /** The model's layers' costs (server/jobs/stage-refusals.ts). */
  costs: readonly LayerCost[];
  /** The job's tensors, in its order: each belongs to the layer its name starts with. */
  tensors: readonly TensorSpec[];
  maxWorkerParamBytes: number | null;
  /** The job's clock (when a replica formed). */
  now: () => number;
  /** Tells a worker it joined a replica, or that its replica is gone. */
  notify: (workerId: string, notice: ReplicaNotice) => void;
  /** A replica was dissolved: its held step is dropped and its lease goes back to the queue (the job's part). */
  onDissolved: (replica: Replica) => void;
  /** Whether a worker is barred now (its faults in a row, push-accounting.ts): it waits, passed over, until it is not. Default: none is. */
  barred?: (workerId: string) => boolean;
  /** How long the members of a replica dissolved apart (dissolveApart) are not placed in one replica again, on the job's clock. Default 0. */
  apartMs?: number;
}

/** The job's tensors of layers [from, to): those named `<layer>/…`. */
export function tensorsOfLayers(costs: readonly LayerCost[], tensors: readonly TensorSpec[], from: number, to: number): string[] {
  const layers = costs.slice(from, to).map((c) => `${c.name}/`);
  return tensors.filter((t) => layers.some((l) => t.name.startsWith(l))).map((t) => t.name);
}

export class ReplicaBoard {
  /** Workers of the job in no replica, in the order they came. */
  private readonly queue: string[] = [];
  private readonly replicas = new Map<string, Replica>();
  private readonly replicaOfWorker = new Map<string, string>();
  /** Each worker's measured examples/s on the whole model (from its rate on its stage). */
  private readonly rates = new Map<string, number>();
  private nextId = 1;
  private readonly totalFlops: number;
  /** Pairs of workers kept out of one replica (dissolveApart): each worker's others, and until when. */
  private readonly apart = new Map<string, Map<string, number>>();

  constructor(private readonly o: ReplicaBoardOptions) {
    this.totalFlops = o.costs.reduce((n, c) => n + c.flops, 0) || 1;
  }

  /** A worker of the job is free for a replica (it joined, or the job resumed). */
  join(workerId: string): void {
    if (this.replicaOfWorker.has(workerId) || this.queue.includes(workerId)) return;
    this.queue.push(workerId);
    this.formReplicas();
  }

  /** A worker left the job: out of the queue, and its replica dissolved. */
  leave(workerId: string, reason = 'a stage left'): void {
    const at = this.queue.indexOf(workerId);
    if (at >= 0) this.queue.splice(at, 1);
    this.rates.delete(workerId);
    for (const other of this.apart.get(workerId)?.keys() ?? []) this.apart.get(other)?.delete(workerId);
    this.apart.delete(workerId);
    const replicaId = this.replicaOfWorker.get(workerId);
    if (replicaId) this.dissolve(replicaId, reason, workerId);
  }

  /**
   * Ends a replica: its other members are told and, if `wait`, wait again (joining the
   * next one formed). `except` is a member that left, who is told nothing and does not wait.
   */
  dissolve(replicaId: string, reason: string, except: string | null = null, wait = true): void {
    const replica = this.replicas.get(replicaId);
    if (!replica) return;
    this.replicas.delete(replicaId);
    for (const m of replica.members) this.replicaOfWorker.delete(m);
    log.info('replica dissolved', { replica: replicaId, reason, members: replica.members });
    this.o.onDissolved(replica);
    for (const m of replica.members) {
      if (m === except) continue;
      this.o.notify(m, { kind: 'dissolved', replicaId, reason });
      if (wait) this.queue.push(m);
    }
    this.formReplicas();
  }

  /**
   * Ends a replica whose stages did not work together (it stalled, or a stage aborted a
   * step on its neighbour's frame) and keeps each pair of its members out of one replica
   * for `apartMs`. Which of them was at fault is not to be seen from here (frames go tab
   * to tab), so none is trusted with the others again soon: re-formed at once, the same
   * pair would stall (or abort, at no one's cost) again, and an honest stage would share
   * its staller's faults until both were barred. Apart, a staller stalls a new partner
   * each time, and its own faults, not theirs, add up.
   */
  dissolveApart(replica: Pick<Replica, 'id' | 'members'>, reason: string): void {
    // Kept apart even when the replica is gone already (a bar its failure brought dissolved it first).
    const until = this.o.now() + (this.o.apartMs ?? 0);
    for (const a of replica.members) {
      let others = this.apart.get(a);
      if (!others) this.apart.set(a, (others = new Map()));
      for (const b of replica.members) if (b !== a) others.set(b, until);
    }
    this.dissolve(replica.id, reason);
  }

  /** Whether `a` and `b` are kept out of one replica now (dissolveApart); an ended keeping is forgotten. */
  keptApart(a: string, b: string): boolean {
    const until = this.apart.get(a)?.get(b);
    if (until === undefined) return false;
    if (until > this.o.now()) return true;
    this.apart.get(a)!.delete(b);
    this.apart.get(b)?.delete(a);
    if (!this.apart.get(a)!.size) this.apart.delete(a);
    if (this.apart.get(b)?.size === 0) this.apart.delete(b);
    return false;
  }

  /** A worker was barred: its replica dissolves for `reason`; it waits in the queue, passed over while barred (reform). */
  bar(workerId: string, reason: string): void {
    const replicaId = this.replicaOfWorker.get(workerId);
    if (replicaId) this.dissolve(replicaId, reason);
  }

  /** Forms the replicas the waiting workers allow now (a bar or a keeping apart may have ended: run on the job's clock). */
  reform(): void {
    this.formReplicas();
  }

  /** The job stopped training: every replica dissolves for `reason` and nobody waits (they join again when it resumes). */
  clear(reason: string): void {
    this.queue.length = 0;
    for (const id of [...this.replicas.keys()]) this.dissolve(id, reason, null, false);
  }

  /**
   * A worker's report of its examples/s on its stage, and the fraction of the time its
   * stage was busy (its latest replica:report; null before one): kept as its rate on the
   * whole model, for the next plan it is in. Every stage of a replica reports the
   * replica's rate, whatever its speed: a stage busy a quarter of the time (waiting on a
   * slower neighbour) could do four times as many examples. So its speed on its stage is
   * its rate over its busy fraction, and on the whole model that speed times its share of
   * the FLOPs. Without a busy fraction the stage counts as always busy (its rate is then
   * a lower bound of its speed).
   */
  reported(workerId: string, examplesPerSecond: number, busyFraction: number | null = null): void {
    if (!(examplesPerSecond > 0)) return;
    const replica = this.replicaOf(workerId);
    if (!replica) return;
    const stage = replica.plan.stages[replica.members.indexOf(workerId)]!;
    const busy = busyFraction !== null && busyFraction > 0 && busyFraction <= 1 ? Math.max(busyFraction, MIN_BUSY_FRACTION) : 1;
    const rate = ((examplesPerSecond / busy) * stage.flops) / this.totalFlops;
    // A rate the planner cannot use (an overflow) would refuse every plan it is in, and
    // the same workers would be tried first again each time: no replica would form.
    if (Number.isFinite(rate) && rate > 0) this.rates.set(workerId, rate);
  }

  /** `workerId`'s measured examples/s on the whole model, as the next plan it is in takes it; undefined before a report. */
  rateOf(workerId: string): number | undefined {
    return this.rates.get(workerId);
  }

  replicaOf(workerId: string): Replica | undefined {
    const id = this.replicaOfWorker.get(workerId);
    return id === undefined ? undefined : this.replicas.get(id);
  }

  get(replicaId: string): Replica | undefined {
    return this.replicas.get(replicaId);
  }

  /** What `workerId` is told of its stage; null while it waits. */
  assignmentOf(workerId: string): ReplicaAssignment | null {
    const replica = this.replicaOf(workerId);
    if (!replica) return null;
    const stage = replica.members.indexOf(workerId);
    const planned = replica.plan.stages[stage]!;
    return {
      replicaId: replica.id,
      stage,
      of: replica.members.length,
      from: planned.from,
      to: planned.to,
      inputShape: planned.inputShape.map((d) => d ?? 1),
      tensors: tensorsOfLayers(this.o.costs, this.o.tensors, planned.from, planned.to),
      microbatches: this.o.microbatches,
      activationCodec: this.o.activationCodec,
      depth: this.o.depth,
      prev: replica.members[stage - 1] ?? null,
      next: replica.members[stage + 1] ?? null,
    };
  }

  /** The names of layers [from, to). */
  layerNames(from: number, to: number): string[] {
    return this.o.costs.slice(from, to).map((c) => c.name);
  }

  /** `workerId`'s replica and stage, `waiting` while it waits for one, null when the board does not hold it. */
  placeOf(workerId: string): WorkerStage | 'waiting' | null {
    const replica = this.replicaOf(workerId);
    if (replica) return { replicaId: replica.id, stage: replica.members.indexOf(workerId), of: replica.members.length };
    return this.queue.includes(workerId) ? 'waiting' : null;
  }

  /** Workers waiting for a replica, in the order they came. */
  get waiting(): readonly string[] {
    return this.queue;
  }

  list(): Replica[] {
    return [...this.replicas.values()];
  }

  private formReplicas(): void {
    for (;;) {
      const workers = this.nextMembers();
      if (!workers) return;
      for (const w of workers) this.queue.splice(this.queue.indexOf(w), 1);
      const budget = { maxWorkerParamBytes: this.o.maxWorkerParamBytes ?? undefined };
      let plan = planStages(this.o.costs, this.ratesOf(workers), budget);
      // Rates no plan takes must not keep these workers, first in the queue, from every replica: plan them as equals.
      if (!plan.ok) plan = planStages(this.o.costs, workers.map(() => 1), budget);
      if (!plan.ok) {
        // Job creation checked that K stages fit: this is a bug, not a worker's fault. The workers keep waiting.
        log.error('no stage plan for a replica', { code: plan.code, message: plan.message });
        this.queue.unshift(...workers);
        return;
      }
      const replica: Replica = { id: `r${this.nextId++}`, members: plan.stages.map((s) => workers[s.worker]!), plan: plan, formedAt: this.o.now() };
      this.replicas.set(replica.id, replica);
      for (const m of replica.members) this.replicaOfWorker.set(m, replica.id);
      log.info('replica formed', { replica: replica.id, members: replica.members, cuts: plan.stages.map((s) => [s.from, s.to]) });
      for (const m of replica.members) this.o.notify(m, { kind: 'formed', replica: this.assignmentOf(m)! });
    }
  }

  /**
   * The next replica's workers: the first k waiting, in the order they came, that are not
   * barred (a barred one keeps its place) and none kept apart from another. A worker kept
   * apart from every other one waiting is passed over, so the others still form.
   */
  private nextMembers(): string[] | null {
    const k = this.o.stages;
    const barred = this.o.barred ?? (() => false);
    const free = this.queue.filter((w) => !barred(w));
    for (let first = 0; first + k <= free.length; first++) {
      const chosen = [free[first]!];
      for (let i = first + 1; i < free.length && chosen.length < k; i++) {
        if (!chosen.some((c) => this.keptApart(c, free[i]!))) chosen.push(free[i]!);
      }
      if (chosen.length === k) return chosen;
    }
    return null;
  }

  /** Measured rates; a worker never measured counts as the median of those measured (all equal when none are). */
  private ratesOf(workers: readonly string[]): number[] {
    const known = workers.map((w) => this.rates.get(w)).filter((r): r is number => r !== undefined).sort((a, b) => a - b);
    const mid = known.length ? (known.length % 2 ? known[(known.length - 1) / 2]! : (known[known.length / 2 - 1]! + known[known.length / 2]!) / 2) : 1;
    return workers.map((w) => this.rates.get(w) ?? mid);
  }
}
