/**
 * The chief's side of a checkpoint as a consistent cut over ps tasks (docs/cluster.md,
 * "Checkpoints: a consistent cut"). Taking one: every task holding slices of the job is
 * asked `ckpt:write` under ONE fresh checkpoint id, in parallel; each holds the job's
 * pushes, writes its part and answers what it wrote. The manifest is returned only when
 * every part answered and checks; the caller then commits it (an atomic file write).
 * A refusal or a silence rejects, nothing is committed, and the previous checkpoint
 * stays in force (the parts already written are orphans the tasks prune later).
 * Loading one: every task is told `ckpt:load` with the part's checksum; any refusal
 * (CHECKPOINT_PART_MISSING, CHECKPOINT_PART_CORRUPT, a version not the manifest's)
 * rejects with the task's code.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../../shared/errors.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { CutManifest, CutPart } from '../checkpoints/cut-manifest.js';
import type { PsCluster } from './ps-cluster.js';

export interface CutTarget {
  cluster: PsCluster;
  jobId: string;
  /** Tasks holding slices of the job, in order. */
  tasks: readonly number[];
  tensors: readonly TensorSpec[];
  slotNames: readonly string[];
}

/** A task refused or did not answer: the cut is not committed. */
export class CutRefusedError extends Error {
  constructor(
    readonly task: number,
    readonly code: string,
    message: string,
  ) {
    super(`ps task ${task}: ${code}: ${message}`);
    this.name = 'CutRefusedError';
  }
}

/** Asks every task for its part of one checkpoint at global step `step`; the manifest once all are written. */
export async function takeCut(t: CutTarget, step: number, keep: readonly string[]): Promise<CutManifest> {
  // Fresh per attempt: a failed attempt's parts never pass for a later one's.
  const checkpointId = `s${step}-${randomBytes(9).toString('base64url')}`;
  const answers = await Promise.all(t.tasks.map((task) => t.cluster.request(task, 'ckpt:write', { jobId: t.jobId, checkpointId, keep: [...keep] })));
  const parts: CutPart[] = answers.map((a, i) => {
    const task = t.tasks[i]!;
    if (!a.ok) throw new CutRefusedError(task, a.code, a.message);
    if (a.checkpointId !== checkpointId || a.task !== task) throw new CutRefusedError(task, ErrorCode.CHECKPOINT_WRITE_FAILED, `answered part ${a.checkpointId} of task ${a.task}`);
    return { task, version: a.version, bytes: a.bytes, sha256: a.sha256 };
  });
  const { cluster } = t;
  return { checkpointId, step, tasks: cluster.tasks, partitionBytes: cluster.partitionBytes, tensors: t.tensors.map((s) => ({ name: s.name, shape: [...s.shape] })), slotNames: [...t.slotNames], parts };
}

/** Tells every task to load its part of `cut`; rejects with the first refusal. */
export async function loadCut(t: CutTarget, cut: CutManifest): Promise<void> {
  const { cluster } = t;
  if (cut.tasks !== cluster.tasks || cut.partitionBytes !== cluster.partitionBytes) {
    throw new Error(`the cut was placed over ${cut.tasks} tasks at ${cut.partitionBytes} bytes a partition, this cluster has ${cluster.tasks} at ${cluster.partitionBytes}`);
  }
  if (cut.parts.length !== t.tasks.length || cut.parts.some((p, i) => p.task !== t.tasks[i])) {
    throw new Error(`the cut has parts on tasks [${cut.parts.map((p) => p.task)}], the job's slices are on [${t.tasks}]`);
  }
  const answers = await Promise.all(cut.parts.map((p) => cluster.request(p.task, 'ckpt:load', { jobId: t.jobId, checkpointId: cut.checkpointId, sha256: p.sha256 })));
  answers.forEach((a, i) => {
    const part = cut.parts[i]!;
    if (!a.ok) throw new CutRefusedError(part.task, a.code, a.message);
    if (a.version !== part.version) throw new CutRefusedError(part.task, ErrorCode.CHECKPOINT_PART_CORRUPT, `loaded version ${a.version}, the manifest says ${part.version}`);
  });
}
