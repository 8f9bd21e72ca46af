/** The operator's view of a job (REST and dashboard). */
import type { JobDetail, PlacementView, ReplicasView, ReplicaView, RoundsView } from '../../shared/operator-protocol.js';
import { MODES } from '../../shared/modes.js';
import { classNamesOf } from '../data/dataset.js';
import type { Job } from './job.js';

export function jobDetail(job: Job, withHistory = true): JobDetail {
  return {
    ...job.summary(),
    description: job.spec.description,
    spec: job.spec,
    failure: job.failure,
    pausedReason: job.pausedReason,
    createdAt: job.createdAt,
    pushesAccepted: job.stats.pushesAccepted,
    pushesClipped: job.stats.pushesClipped,
    pushesRejected: { ...job.stats.pushesRejected },
    staleness: { ...job.stats.staleness },
    bytesIn: job.stats.bytesIn,
    bytesOut: job.stats.bytesOut,
    bytesPerPush: job.stats.pushesAccepted ? job.stats.bytesIn / job.stats.pushesAccepted : null,
    compressionRatio: job.stats.bytesIn ? job.stats.rawBytesIn / job.stats.bytesIn : null,
    bytesPerPull: job.stats.pulls ? job.stats.bytesOut / job.stats.pulls : null,
    deltaPulls: job.stats.deltaPulls,
    examplesAccepted: {
      perEpoch: job.ledger.shardSizes.reduce((a, b) => a + b, 0),
      byEpoch: job.ledger.examples.map((shards) => shards.reduce((a, b) => a + b, 0)),
    },
    parameters: job.parameters.parameterCount,
    resumedFrom: job.resumedFrom,
    classNames: classNamesOf(job.dataset),
    examplesPerEpoch: job.dataset.train.count,
    confusion: job.confusion,
    evals: withHistory ? [...job.evals] : [],
    history: withHistory ? [...job.metrics.history] : [],
    replicas: replicasView(job),
    placement: placementView(job),
    rounds: roundsView(job),
  };
}

/** Rounds closed (by quorum or deadline) and who the next waits for; null in the async modes. */
function roundsView(job: Job): RoundsView | null {
  if (!MODES[job.spec.mode].rounds) return null;
  const { rounds, timedOut } = job.parameters.counters();
  return { closed: rounds, timedOut, members: job.roundMembers() };
}

/** Which tensor or partition is on which ps task, and each task's bytes; null for a job in process. */
function placementView(job: Job): PlacementView | null {
  const ps = job.parameters.psPlacement;
  if (!ps) return null;
  const { placement, endpoints } = ps;
  const specs = job.parameters.specs;
  return {
    partitionBytes: placement.partitionBytes,
    tasks: endpoints.map((endpoint, task) => ({ task, endpoint, bytes: placement.bytesPerTask[task] ?? 0, slices: placement.slices.filter((s) => s.task === task).length })),
    slices: placement.slices.map((s) => ({
      name: s.name,
      tensor: specs[s.tensor]?.name ?? s.name,
      partition: s.partition,
      partitions: s.partitions,
      rowStart: s.rowStart,
      rowEnd: s.rowEnd,
      shape: [...s.shape],
      bytes: s.bytes,
      task: s.task,
    })),
  };
}

/** The replicas and their stages, with what each stage last reported (replica:report). */
function replicasView(job: Job): ReplicasView | null {
  const board = job.replicas;
  const figures = job.replicaFigures;
  if (!board || !figures) return null;
  return {
    replicas: board.list().map((r): ReplicaView => {
      const reports = r.members.map((w) => figures.reportOf(r.id, w));
      const paths = reports.flatMap((rep) => (rep ? [rep.path] : []));
      return {
        replicaId: r.id,
        formedAt: r.formedAt,
        path: paths.length === 0 ? null : paths.includes('relay') ? 'relay' : 'webrtc',
        stages: r.plan.stages.map((s, i) => ({
          workerId: r.members[i]!,
          from: s.from,
          to: s.to,
          layers: board.layerNames(s.from, s.to),
          paramBytes: s.paramBytes,
          sendsValues: s.sendsValues,
          busyFraction: reports[i] && reports[i].wallMs > 0 ? reports[i].busyMs / reports[i].wallMs : null,
          path: reports[i]?.path ?? null,
        })),
        // The upstream stage's view of each boundary: a middle stage's bytes with its next neighbour only.
        boundaries: reports.slice(0, -1).map((rep) => ({
          bytesPerExample: rep && rep.examples > 0 ? (rep.bytesSent.next + rep.bytesReceived.next) / rep.examples : null,
        })),
      };
    }),
    waiting: [...board.waiting],
  };
}
