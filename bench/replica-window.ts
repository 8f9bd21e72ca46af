/**
 * The pipeline benchmark's figures from the stages' own `replica:report`s, as the
 * coordinator holds them (the job API's source, server/jobs/replica-figures.ts), over a
 * window: two snapshots of every live replica's reports, differenced, so the warm-up
 * does not count. Per stage the bubble 1 − busy ÷ wall; per replica the **bottleneck
 * bubble**, the idle fraction of its busiest stage: GPipe's bound (K − 1)/(M + K − 1)
 * is about filling and draining the pipeline, which this measures, while a stage that
 * holds little of the work is idle by imbalance, which no schedule removes.
 */
import type { Job } from '../server/jobs/job.js';
import type { PhaseTotals, ReplicaReport, StagePhase } from '../shared/replica-protocol.js';

/** Every live replica's stages' latest reports, in stage order. */
export type ReplicaSnapshot = Map<string, ReplicaReport[]>;

export interface WindowFigures {
  /** Per replica, each stage's 1 − busy ÷ wall over the window. */
  stageBubbles: number[][];
  /** Per replica, its busiest stage's idle fraction. */
  bottleneckBubbles: number[];
  /** Per replica, which stage is its busiest. */
  bottleneckStages: number[];
  /** Frame bytes across each boundary (both ways) per example, over every replica's boundaries. */
  boundaryBytesPerExample: number | null;
  /** Per replica, each stage's time per phase as a share of its wall time over the window (client/engine/stage-phases.ts). */
  stagePhases: PhaseTotals[][];
}

const POLL_MS = 200;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The reports once every stage of every live replica has one satisfying `fresh` (polled: reports come every 2 s). */
export async function snapshotWhen(job: Job, fresh: (replicaId: string, stage: number, r: ReplicaReport) => boolean, timeoutMs = 60_000): Promise<ReplicaSnapshot> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const snap: ReplicaSnapshot = new Map();
    let ready = (job.replicas?.list().length ?? 0) > 0;
    for (const replica of job.replicas?.list() ?? []) {
      const reports = replica.members.map((m) => job.replicaFigures!.reportOf(replica.id, m));
      if (reports.some((r, i) => !r || !fresh(replica.id, i, r))) ready = false;
      snap.set(replica.id, reports as ReplicaReport[]);
    }
    if (ready) return snap;
    if (performance.now() > deadline) throw new Error('the stages did not report in time');
    await sleep(POLL_MS);
  }
}

/** The snapshot after `a` in which every stage's report covers at least `ms` more of its wall time. */
export function snapshotAfter(job: Job, a: ReplicaSnapshot, ms: number): Promise<ReplicaSnapshot> {
  return snapshotWhen(job, (id, stage, r) => {
    const before = a.get(id)?.[stage];
    if (!before) throw new Error(`replica ${id} formed during the window (a stage left, or aborted)`);
    return r.wallMs - before.wallMs >= ms;
  }, ms + 60_000);
}

export function windowFigures(a: ReplicaSnapshot, b: ReplicaSnapshot): WindowFigures {
  const stageBubbles: number[][] = [];
  const stagePhases: PhaseTotals[][] = [];
  let bytes = 0;
  let examples = 0;
  for (const [id, before] of a) {
    const after = b.get(id);
    if (!after) throw new Error(`replica ${id} dissolved during the window`);
    stageBubbles.push(after.map((r, i) => 1 - (r.busyMs - before[i]!.busyMs) / (r.wallMs - before[i]!.wallMs)));
    stagePhases.push(after.map((r, i) => phaseShares(before[i]!, r)));
    for (let i = 0; i + 1 < after.length; i++) {
      bytes += after[i]!.bytesSent.next + after[i]!.bytesReceived.next - before[i]!.bytesSent.next - before[i]!.bytesReceived.next;
      examples += after[i]!.examples - before[i]!.examples;
    }
  }
  const bottleneckStages = stageBubbles.map((s) => s.indexOf(Math.min(...s)));
  return { stageBubbles, bottleneckBubbles: stageBubbles.map((s, i) => s[bottleneckStages[i]!]!), bottleneckStages, boundaryBytesPerExample: examples > 0 ? bytes / examples : null, stagePhases };
}

function phaseShares(a: ReplicaReport, b: ReplicaReport): PhaseTotals {
  const wall = b.wallMs - a.wallMs;
  const shares: PhaseTotals = {};
  for (const [phase, ms] of Object.entries(b.phases ?? {}) as [StagePhase, number][]) shares[phase] = Number(((ms - (a.phases?.[phase] ?? 0)) / wall).toFixed(3));
  return shares;
}

/** One line per stage of the first replica: its phases, largest first, as shares of its wall time. */
export function phasesLines(stagePhases: PhaseTotals[] | undefined): string {
  return (stagePhases ?? [])
    .map((p, stage) => `[pipeline]   stage ${stage} phases (share of wall): ${Object.entries(p).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`)
    .join('');
}

/** GPipe's bubble for K stages and M micro-batches, and the issue's target (the bound plus 0.1). */
export function gpipeBound(stages: number, microbatches: number): { bound: number; target: number } {
  const bound = (stages - 1) / (microbatches + stages - 1);
  return { bound, target: bound + 0.1 };
}
