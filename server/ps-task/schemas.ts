/**
 * Schemas for every payload a ps task takes. The credential (a worker's ticket, the
 * chief's proof) is checked before these, so a stranger learns nothing from them;
 * then the whole payload is parsed before any state is touched.
 */
import { z } from 'zod';
import { CODEC_IDS } from '../../shared/codec.js';
import { MAX_PS_TASKS } from '../../shared/cluster-spec.js';
import { AGGREGATIONS, optimizerSpecSchema } from '../../shared/job-spec.js';
import { MAX_STAGES } from '../../shared/stage-plan.js';
import { MAX_REFERENCE_ROWS } from '../../shared/ps-protocol.js';
import { manifestSchema } from '../worker/schemas.js';

const binary = z.custom<ArrayBuffer | Uint8Array>((v) => v instanceof ArrayBuffer || v instanceof Uint8Array, {
  message: 'expected binary data (ArrayBuffer or Buffer)',
});
const id = z.string().min(1).max(128);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** What the credential check already read; here only so that the parsed value types it. */
const chief = z.object({ epoch: count, proof: z.string() });
const ticket = z.string();

/** Delta bases a job may ask a task to keep (the coordinator keeps 16). */
export const MAX_KEEP_VERSIONS = 64;

const sliceSchema = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().min(0).max(1 << 30)).max(8),
});

/** Per mini-batch, each slice's sum of squares (the length is checked against the job's slices). */
const referenceRows = z.array(z.array(z.number().finite().min(0)).min(1).max(1024)).min(1).max(MAX_REFERENCE_ROWS);

export const jobCreateSchema = z
  .object({
    chief,
    jobId: id,
    task: z.number().int().min(0).max(MAX_PS_TASKS - 1),
    slices: z.array(sliceSchema).min(1).max(1024),
    optimizer: optimizerSpecSchema,
    codec: z.enum(CODEC_IDS),
    topkRatio: z.number().positive().max(1),
    maxStaleness: z.number().int().min(0).max(1_000_000),
    stalenessAware: z.boolean().optional(),
    keepVersions: z.number().int().min(0).max(MAX_KEEP_VERSIONS),
    rounds: z
      .object({ aggregation: z.enum(AGGREGATIONS), trimFraction: z.number().min(0).lt(0.5) })
      .strict()
      .optional(),
    initial: z.object({ manifest: manifestSchema, data: binary }).strict(),
    slots: z.object({ manifest: manifestSchema, data: binary }).strict().optional(),
    baseStep: count.optional(),
    split: z.boolean().optional(),
    normBound: z
      .object({ factor: z.number().positive().max(1e6), batches: z.number().int().min(1).max(1_000_000), reference: referenceRows.nullable() })
      .strict()
      .optional(),
  })
  .strict();

export const jobReferenceSchema = z.object({ chief, jobId: id, reference: referenceRows }).strict();

export const jobForgetSchema = z.object({ chief, jobId: id, workers: z.array(id).min(1).max(1024) }).strict();

export const jobRefSchema = z.object({ chief, jobId: id }).strict();
export const jobDeleteSchema = z.object({ chief, jobId: id, dropParts: z.boolean().optional() }).strict();

/** Names a checkpoint on every task and in the part's file name. */
const checkpointId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a checkpoint id is 1 to 64 of A-Z a-z 0-9 _ -');

export const ckptWriteSchema = z.object({ chief, jobId: id, checkpointId, keep: z.array(checkpointId).max(16) }).strict();

export const ckptLoadSchema = z.object({ chief, jobId: id, checkpointId, sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a hex SHA-256'), baseStep: count }).strict();

/** More workers than any round holds. */
export const MAX_ROUND_MEMBERS = 65_536;

/** A stage part a task holds: its worker and the task's number for it. */
const holdRef = z.object({ worker: id, hold: count }).strict();

/** A member is a worker, or a split job's replica as its stage parts (worker, part number) on the task. */
export const roundCloseSchema = z
  .object({ chief, jobId: id, round: count, members: z.array(z.union([id, z.array(holdRef).min(1).max(MAX_STAGES)])).max(MAX_ROUND_MEMBERS) })
  .strict();

export const statusSchema = z.object({ chief }).strict();

export const pullSchema = z.object({ ticket, jobId: id, have: count.optional(), slices: z.array(sliceSchema.shape.name).max(1024).optional() }).strict();

/** A replica step's holds, closed or dropped together (a step has a part per stage and task: at most 8 of them here). */
export const stepCloseSchema = z
  .object({ chief, jobId: id, holds: z.array(holdRef).min(1).max(64) })
  .strict();

export const pushSchema = z
  .object({
    ticket,
    jobId: id,
    baseVersion: count,
    manifest: manifestSchema,
    data: binary,
    slot: z.string().min(1).max(64).optional(),
  })
  .strict();

export const slotSchema = z.object({ ticket, jobId: id, bytes: z.number().int().min(0).max(2 ** 32) }).strict();
