/**
 * The model-parallel side of a job that splits its model into stages
 * (docs/model-parallelism.md): its ReplicaBoard (which workers form which replica),
 * its ReplicaSteps (the stages' pushes waiting for each other) and its ReplicaFigures
 * (what the stages report, against what the relay forwarded), wired to each other and
 * to the job's accounting and training. The job (job.ts) owns one when spec.stages > 1,
 * none for data parallelism, and keeps the lifecycle: it says when workers join and
 * leave, when the replicas are cleared and when late steps are swept.
 */
import { codecOf } from '../../shared/codec.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { MODES } from '../../shared/modes.js';
import type { LayerCost } from '../../shared/stage-plan.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { payloadCapBytes } from '../params/gradient-gate.js';
import type { ParameterService } from '../params/parameter-service.js';
import type { ShardLedger } from '../data/shard-ledger.js';
import type { JobTraining } from './job-training.js';
import type { PushAccounting } from './push-accounting.js';
import { ReplicaBoard, type ReplicaNotice } from './replica-board.js';
import { ReplicaFigures } from './replica-figures.js';
import { ReplicaSteps } from './replica-steps.js';

export interface JobReplicasDeps {
  spec: JobSpec;
  /** The model's layers' costs (server/jobs/stage-refusals.ts); null or absent: data parallelism. */
  costs: readonly LayerCost[] | null | undefined;
  /** The model's tensors, in its order (the board gives each stage those of its layers). */
  tensors: readonly TensorSpec[];
  params: Pick<ParameterService, 'specs' | 'parameterCount' | 'stageSteps' | 'version'>;
  accounting: Pick<PushAccounting, 'barred' | 'stalled' | 'stepped' | 'blame'>;
  /** Whether a replica has work: its stage 0 holds a lease, or would get one now. */
  ledger: Pick<ShardLedger, 'leasesOf' | 'canLease'>;
  training: Pick<JobTraining, 'commit' | 'replicaDissolved'>;
  /** The job's clock. */
  now: () => number;
  /** Tells a worker it joined a replica, or that its replica is gone. */
  notify: (workerId: string, notice: ReplicaNotice) => void;
}

/**
 * Lease periods for which the stages of a replica that stalled or aborted are not paired
 * again (ReplicaBoard.dissolveApart): long enough that a staller is paired with others
 * meanwhile, short enough that two honest tabs alone in a job, stalled once by a
 * passing fault, try again within minutes.
 */
export const APART_LEASE_PERIODS = 3;

/** The job's replicas when it splits its model into stages (spec.stages > 1, its layers' costs known); null: data parallelism. */
export function replicasFor(d: JobReplicasDeps): JobReplicas | null {
  return d.spec.stages > 1 && d.costs ? new JobReplicas(d, d.costs) : null;
}

export class JobReplicas {
  readonly board: ReplicaBoard;
  /** The replicas' stage pushes waiting for each other. */
  readonly steps: ReplicaSteps;
  /** What the replicas' stages report and what the relay forwarded for them. */
  readonly figures: ReplicaFigures;

  constructor(d: JobReplicasDeps, costs: readonly LayerCost[]) {
    const { spec, params, accounting, training } = d;
    this.board = new ReplicaBoard({
      stages: spec.stages,
      microbatches: spec.microbatches,
      activationCodec: spec.activationCodec,
      // A round mode computes every step on its round's parameters: never one step stale.
      // Otherwise the spec's depth: the norm bound clips a warm worker's early transient instead of barring it (norm-bound.ts).
      depth: MODES[spec.mode].rounds ? 1 : spec.pipelineDepth,
      costs,
      tensors: d.tensors,
      maxWorkerParamBytes: spec.maxWorkerParamBytes,
      barred: (workerId) => accounting.barred(workerId),
      apartMs: APART_LEASE_PERIODS * spec.leaseSeconds * 1000,
      now: d.now,
      notify: d.notify,
      onDissolved: (replica) => {
        this.figures.drop(replica.id);
        training.replicaDissolved(replica);
      },
    });
    const board = this.board;
    this.figures = new ReplicaFigures((replicaId) => board.get(replicaId));
    const codec = codecOf(spec);
    this.steps = new ReplicaSteps({
      tensors: params.specs,
      codec,
      maxBytes: payloadCapBytes(params.parameterCount, params.specs.reduce((n, t) => n + codec.byteLength(sizeOf(t.shape)), 0)),
      stageTensors: (replica, stage) => board.assignmentOf(replica.members[stage]!)!.tensors,
      commit: (workerId, push, refusal, member, culprit) => training.commit(workerId, push, refusal, member, culprit),
      onTasks: params.stageSteps,
      version: () => params.version,
      now: d.now,
      stepDeadlineMs: spec.leaseSeconds * 1000,
      // A stall, or a refusal another stage's frames may have caused: its stages are kept apart.
      dissolve: (replica, reason) => board.dissolveApart(replica, reason),
      live: () => board.list(),
      hasWork: (replica) => d.ledger.leasesOf(replica.members[0]!).length > 0 || d.ledger.canLease,
      stalled: (workerId, what) => accounting.stalled(workerId, what),
      stepped: (workerIds) => workerIds.forEach((w) => accounting.stepped(w)),
      charge: (workerId, failure) => accounting.blame(workerId, failure),
      broken: (replica, workerId, failure) => {
        accounting.blame(workerId, failure);
        board.dissolve(replica.id, failure.message);
      },
    });
  }

  /** The job's lease sweep, on its clock. */
  sweep(): void {
    // A replica step still missing a stage's part, or a replica with no step, a lease period on: the replica is dissolved.
    this.steps.expire();
    // A barred stage whose bar ended joins the next replica.
    this.board.reform();
  }

  /** Which deadline `workerId`'s leases run (PushAccountingOptions.leaseDeadline): a stage 0's is its replica's business. */
  leaseDeadline(workerId: string): 'own' | 'period' | 'none' {
    const replica = this.board.replicaOf(workerId);
    if (replica?.members[0] !== workerId) return 'own';
    return this.steps.holds(replica.id) ? 'none' : 'period';
  }

  /** `workerId` lost its leases at their deadline: as stage 0, at the lease period's end, which its replica's progress judges (ReplicaSteps.leaseOverHeld). */
  missed(workerId: string): void {
    const replica = this.board.replicaOf(workerId);
    if (replica?.members[0] === workerId) this.steps.leaseOverHeld(replica);
  }

  /**
   * Stage `from` refused a frame of its neighbour `to` and sent it an abort
   * (server/worker/relay.ts): the replica dissolves, uncharged (the frame went tab to tab:
   * who is at fault is not to be seen), and its stages are kept apart, so an aborting
   * stage cannot hold one partner in a loop of replicas formed and aborted.
   */
  abort(replicaId: string, from: string, to: string): void {
    const replica = this.board.get(replicaId);
    if (!replica) return;
    const stage = (w: string) => replica.members.indexOf(w);
    this.board.dissolveApart(replica, `stage ${stage(from)} aborted the step: a bad frame from stage ${stage(to)}`);
  }

  /** The worker's own report of its speed: the board plans the next replicas with it, on its stage's busy fraction. */
  reported(workerId: string, examplesPerSecond: number): void {
    this.board.reported(workerId, examplesPerSecond, this.busyFractionOf(workerId));
  }

  /** The fraction of the time `workerId`'s stage computed, from its latest replica:report in its replica; null before one. */
  private busyFractionOf(workerId: string): number | null {
    const replica = this.board.replicaOf(workerId);
    const report = replica && this.figures.reportOf(replica.id, workerId);
    return report && report.wallMs > 0 ? report.busyMs / report.wallMs : null;
  }
}
