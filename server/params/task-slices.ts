/**
 * A job's slices on its ps tasks as the chief creates and reads them
 * (remote-parameter-service.ts): `job:create` on every task the placement gives some
 * slices, and every task's part gathered for a snapshot or a checkpoint.
 */
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { MODES } from '../../shared/modes.js';
import type { Placement } from '../../shared/placement.js';
import type { Failure, Result } from '../../shared/result.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { psOptimizerSpec } from '../consistency/registry.js';
import { readSlicePart, type SlicePart } from './slice-parts.js';

/** One job over its tasks. */
export interface TaskSlicesTarget {
  cluster: PsCluster;
  jobId: string;
  spec: JobSpec;
  placement: Placement;
  /** The tasks holding at least one slice. */
  used: readonly number[];
  /** The optimizer's state per element (Adagrad's accumulator…), in its order. */
  slotNames: readonly string[];
  /** What a task's `job:create` carries beside its slices (the norm bound's reference, task-norm-references.ts). */
  extra: (task: number) => object;
}

/**
 * Versions each task keeps as bases of its workers' delta pulls. Each kept version is
 * the fp32 payload of that task's slices (4 bytes a parameter it holds), and only
 * versions some worker pulled are kept: at most 4 × its slices' bytes a job per task,
 * e.g. 4 × 3.7 MB for half of a 1.86M-parameter model. Fewer than the coordinator's 16:
 * ps tasks exist for the models too large for one process, whose copies cost most. A
 * delta pays only when under half of a task's entries changed since the worker's
 * version (shared/param-delta.ts); otherwise the task answers in full, as it would
 * without a base, after a comparison of at most half its entries (once per pair of
 * versions, however many workers ask).
 */
export const TASK_DELTA_BASES = 4;

/**
 * Creates the job's slices on every task that holds some, with `values` (and optimizer
 * `slots[k][task][slice]` when restoring), their versions counting from `baseStep`. A
 * task that already holds the job (a chief restarted while its tasks ran on) is given it
 * anew: the checkpoint restore follows. On a refusal the tasks that accepted are told to
 * delete theirs.
 */
export async function createTaskSlices(t: TaskSlicesTarget, values: Float32Array[][], slots: Float32Array[][][] | null, baseStep: number): Promise<Failure | null> {
  const { cluster, jobId, spec, placement, slotNames } = t;
  const createOn = async (task: number): Promise<Result> => {
    const slices = placement.byTask[task]!;
    const message = {
      jobId,
      task,
      slices: placement.specsOf(task),
      optimizer: psOptimizerSpec(spec),
      codec: spec.codec,
      topkRatio: spec.topkRatio,
      maxStaleness: spec.maxStaleness,
      // Each task judges a push's staleness by its own version, so each scales by its own τ.
      stalenessAware: spec.mode === 'staleness-aware',
      keepVersions: TASK_DELTA_BASES,
      baseStep,
      split: spec.stages > 1,
      // Each task judges its part of every push against its own slices' history (task-job.ts).
      ...t.extra(task),
      // Multi-Krum only reaches a job on one task, which holds whole gradients (psSpecRefusal).
      ...(MODES[spec.mode].rounds ? { rounds: { aggregation: spec.aggregation, trimFraction: spec.trimFraction } } : {}),
      initial: encodeTensors(slices.map((s, i) => ({ name: s.name, shape: s.shape, values: values[task]![i]! }))),
      ...(slots && slotNames.length
        ? { slots: encodeTensors(slices.flatMap((s, i) => slotNames.map((n, k) => ({ name: `${s.name}:${n}`, shape: s.shape, values: slots[k]![task]![i]! })))) }
        : {}),
    };
    const first = await cluster.request(task, 'job:create', message);
    if (first.ok || first.code !== ErrorCode.CONFLICT) return first;
    const deleted = await cluster.request(task, 'job:delete', { jobId });
    return deleted.ok ? cluster.request(task, 'job:create', message) : deleted;
  };
  const results = await Promise.all(t.used.map(createOn));
  const refused = results.find((r): r is Failure => !r.ok);
  if (!refused) return null;
  const task = t.used[results.indexOf(refused)]!;
  await Promise.all(t.used.filter((_, i) => results[i]!.ok).map((u) => cluster.request(u, 'job:delete', { jobId })));
  return { ...refused, message: `ps task ${task}: ${refused.message}` };
}

/** Every task's part, in task order (empty for a task holding none). */
export function gatherTaskSlices(t: TaskSlicesTarget): Promise<SlicePart[]> {
  return Promise.all(
    t.placement.byTask.map(async (slices, task): Promise<SlicePart> => {
      if (!slices.length) return { version: 0, values: [], slots: [] };
      const snap = await t.cluster.request(task, 'params:snapshot', { jobId: t.jobId });
      if (!snap.ok) throw new Error(`ps task ${task}: ${snap.code}: ${snap.message}`);
      const part = readSlicePart(snap, slices, t.slotNames);
      if (typeof part === 'string') throw new Error(`ps task ${task}'s snapshot of job ${t.jobId}: ${part}`);
      return part;
    }),
  );
}
