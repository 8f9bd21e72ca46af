/**
 * The manifest of a checkpoint taken as a consistent cut over ps tasks: each task wrote
 * its part (its slices' values, optimizer state and version) under one checkpoint id,
 * and the chief records here what every part is. The manifest travels inside the
 * chief's checkpoint file (checkpoint-format.ts), beside the shard ledger and counters,
 * and is committed (written atomically) only once every part answered, so a
 * checkpoint file that names a cut names parts that were all written.
 */
import { z } from 'zod';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';

export interface CutPart {
  /** The ps task's index in the cluster (its endpoint's place in the ClusterSpec). */
  task: number;
  /** The task's version of the job in its part: the pushes it had applied. */
  version: number;
  bytes: number;
  /** hex SHA-256 the part must have when loaded. */
  sha256: string;
}

export interface CutManifest {
  checkpointId: string;
  /** The chief's global step (accepted pushes) when the cut was asked for. */
  step: number;
  /** The placement the parts follow: tasks in the cluster and the partition size. */
  tasks: number;
  partitionBytes: number;
  /** The model's tensors, as the placement split them. */
  tensors: TensorSpec[];
  /** The optimizer's slots in every part. */
  slotNames: string[];
  /** One per task holding slices of the job, in task order. */
  parts: CutPart[];
}

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const cutManifestSchema = z
  .object({
    checkpointId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    step: count,
    tasks: z.number().int().min(1).max(64),
    partitionBytes: z.number().int().min(1),
    tensors: z.array(z.object({ name: z.string(), shape: z.array(count).max(8) }).strict()).max(4096),
    slotNames: z.array(z.string()).max(8),
    parts: z
      .array(z.object({ task: z.number().int().min(0).max(63), version: count, bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict())
      .min(1)
      .max(64),
  })
  .strict();

/** Why `cut` cannot be a checkpoint of a model of `tensors` with `slots` optimizer slots per tensor, or null. */
export function cutMisfit(cut: unknown, tensors: readonly TensorSpec[], slots: number): string | null {
  const parsed = cutManifestSchema.safeParse(cut);
  if (!parsed.success) return 'its cut manifest is malformed';
  const m = parsed.data;
  if (m.tensors.length !== tensors.length) return `its cut has ${m.tensors.length} tensors, the model ${tensors.length}`;
  for (let i = 0; i < tensors.length; i++) {
    const want = tensors[i]!;
    const got = m.tensors[i]!;
    if (got.name !== want.name || sizeOf(got.shape) !== sizeOf(want.shape) || got.shape.some((d, k) => d !== want.shape[k]) || got.shape.length !== want.shape.length) {
      return `tensor ${i} is "${got.name.slice(0, 60)}" [${got.shape}] in the cut, "${want.name}" [${want.shape}] in the model`;
    }
  }
  if (m.slotNames.length !== slots) return `its parts hold ${m.slotNames.length} optimizer slots per tensor, the job's optimizer ${slots}`;
  if (m.parts.some((p, i) => i > 0 && p.task <= m.parts[i - 1]!.task) || m.parts.some((p) => p.task >= m.tasks)) return 'its parts are not one per task in task order';
  return null;
}
