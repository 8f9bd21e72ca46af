/**
 * A ps task's parts of checkpoints (docs/cluster.md, "Checkpoints: a consistent cut"):
 * one file per (job, checkpoint) under `<root>/<jobId>/task-<k>/`, written atomically
 * (temporary file, fsync, rename, fsync of the folder) so that a crash leaves the whole
 * part or none, and checked whole when read back.
 *
 *   "DPPT" | u32 header length | header JSON | payload | SHA-256 of everything before (32 bytes)
 *
 * The payload is fp32, per slice its values then each optimizer slot. The trailer is
 * the part's checksum: the task answers it to the chief, the chief's manifest records
 * it, and a load checks the file against both (intact, and the part the manifest names).
 *
 * The payload is streamed from the job's live arrays through one bounded scratch buffer
 * (the caller holds the job's pushes meanwhile), so a 4M-parameter task with Adam's two
 * slots writes 48 MB without holding a second 48 MB copy.
 *
 * A job deleted while one of its parts is being written: the removal of its folder
 * and the write's own file operations interleave in any order, so the part could land
 * after the folder went (in a folder the write made again, or one the removal could
 * not empty). So a removal first tombstones the job and marks the writes in flight,
 * and a write that finishes for a tombstoned job, or one marked, removes its file and
 * answers UNKNOWN_JOB. The tombstone lasts until a job of that id is created again
 * (revive); a write marked stays marked.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ErrorCode } from '../../shared/errors.js';
import type { PsCheckpointPart } from '../../shared/ps-protocol.js';
import { fail, type Failure } from '../../shared/result.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { AtomicFile } from '../fs/atomic-write.js';
import { floatReader } from '../checkpoints/float-reader.js';

const MAGIC = 'DPPT';
const FORMAT = 1;
const TRAILER = 32;
/** The scratch a payload passes through on its way to the file. */
const CHUNK_BYTES = 1 << 20;
/** `<seq>-<checkpointId>.part`: seq orders the parts by when this task wrote them. */
const PART_NAME = /^(\d{12})-([A-Za-z0-9_-]{1,64})\.part$/;
/** A job id that is safe as one folder name (the chief's are `job-N`). */
const SAFE_JOB_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** What a part holds: the job's slices on this task at one of its versions. */
export interface PartSource {
  jobId: string;
  task: number;
  version: number;
  applies: number;
  slotNames: readonly string[];
  slices: readonly { spec: TensorSpec; values: Float32Array; slots: readonly Float32Array[] }[];
}

/** A part read back and verified. */
export interface PartContent {
  version: number;
  applies: number;
  slotNames: string[];
  slices: { name: string; shape: number[]; values: Float32Array; slots: Float32Array[] }[];
}

const headerSchema = z
  .object({
    format: z.literal(FORMAT),
    jobId: z.string(),
    task: z.number().int().min(0),
    checkpointId: z.string(),
    version: z.number().int().min(0),
    applies: z.number().int().min(0),
    slotNames: z.array(z.string()).max(8),
    slices: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().min(0)).max(8) }).strict()).max(1024),
    payloadBytes: z.number().int().min(0),
  })
  .strict();

export class CheckpointParts {
  /** Deleted jobs' ids: a part of one that is written after all is removed. */
  private readonly tombstones = new Set<string>();
  /** Writes under way, per job; `deleted` once the job was removed meanwhile. */
  private readonly writing = new Map<string, Set<{ deleted: boolean }>>();

  constructor(
    private readonly root: string,
    /** Parts kept per job beside those the chief's committed manifests name. */
    private readonly keep = 3,
  ) {
    if (!(Number.isInteger(keep) && keep >= 1)) throw new RangeError(`CheckpointParts: keep must be an integer ≥ 1, got ${keep}`);
  }

  /**
   * Writes `src` as part `checkpointId`, then prunes this job's parts to the newest
   * `keep` and those named in `keepIds`. The arrays must not change until it resolves.
   */
  async write(src: PartSource, checkpointId: string, keepIds: readonly string[]): Promise<PsCheckpointPart | Failure> {
    const dir = this.dir(src.jobId, src.task);
    if (typeof dir !== 'string') return dir;
    const mark = { deleted: false };
    const marks = this.writing.get(src.jobId) ?? new Set();
    this.writing.set(src.jobId, marks.add(mark));
    const deleted = () => mark.deleted || this.tombstones.has(src.jobId);
    /** The job went while the part was written: what the write left (the part, folders it made again) goes too. */
    const undo = async (name: string | null) => {
      if (name) await rm(join(dir, name), { force: true });
      await removeIfEmpty(dir, join(this.root, src.jobId));
      return fail(ErrorCode.UNKNOWN_JOB, `Job ${src.jobId} was deleted while its part ${checkpointId} was written`);
    };
    try {
      const written = await this.writePart(src, dir, checkpointId);
      if (deleted()) return await undo(written.name);
      await this.prune(dir, new Set([...keepIds, checkpointId]));
      return written.part;
    } catch (err) {
      // A removal under way took the folder (or the temporary file) from under the write.
      if (deleted()) return await undo(null);
      throw err;
    } finally {
      marks.delete(mark);
      if (!marks.size && this.writing.get(src.jobId) === marks) this.writing.delete(src.jobId);
    }
  }

  /** A job of this id is created (again): its parts are written from now on. */
  revive(jobId: string): void {
    this.tombstones.delete(jobId);
  }

  /** Writes the part file under `dir`, atomically; its name and what the chief is told. */
  private async writePart(src: PartSource, dir: string, checkpointId: string): Promise<{ name: string; part: PsCheckpointPart }> {
    await mkdir(dir, { recursive: true });
    const existing = await this.parts(dir);
    const seq = existing.length ? existing[existing.length - 1]!.seq + 1 : 1;
    const name = `${String(seq).padStart(12, '0')}-${checkpointId}.part`;
    const per = 1 + src.slotNames.length;
    const header = Buffer.from(
      JSON.stringify({
        format: FORMAT,
        jobId: src.jobId,
        task: src.task,
        checkpointId,
        version: src.version,
        applies: src.applies,
        slotNames: src.slotNames,
        slices: src.slices.map((s) => ({ name: s.spec.name, shape: [...s.spec.shape] })),
        payloadBytes: src.slices.reduce((n, s) => n + s.values.byteLength * per, 0),
      }),
      'utf8',
    );
    const prefix = Buffer.alloc(8);
    prefix.write(MAGIC, 0, 'latin1');
    prefix.writeUInt32LE(header.length, 4);
    const hash = createHash('sha256');
    const file = await AtomicFile.open(join(dir, name));
    let bytes = 0;
    const put = async (b: Uint8Array) => {
      hash.update(b);
      await file.write(b);
      bytes += b.byteLength;
    };
    try {
      await put(prefix);
      await put(header);
      const scratch = Buffer.allocUnsafe(CHUNK_BYTES);
      for (const s of src.slices) {
        for (const a of [s.values, ...s.slots]) {
          const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
          for (let at = 0; at < view.byteLength; at += CHUNK_BYTES) {
            const n = Math.min(CHUNK_BYTES, view.byteLength - at);
            // Copied out of the engine's (possibly shared) arena: the file gets plain bytes.
            scratch.set(view.subarray(at, at + n));
            await put(scratch.subarray(0, n));
          }
        }
      }
      const sum = hash.digest();
      await file.write(sum);
      bytes += TRAILER;
      await file.commit();
      return { name, part: { checkpointId, task: src.task, version: src.version, bytes, sha256: sum.toString('hex') } };
    } catch (err) {
      await file.abort();
      throw err;
    }
  }

  /** Part `checkpointId` of the job on task `task`, verified against its own trailer and against `sha256`; or why not. */
  async read(jobId: string, task: number, checkpointId: string, sha256: string): Promise<PartContent | Failure> {
    const dir = this.dir(jobId, task);
    if (typeof dir !== 'string') return dir;
    const found = (await this.parts(dir)).find((p) => p.id === checkpointId);
    if (!found) return fail(ErrorCode.CHECKPOINT_PART_MISSING, `This task has no part ${checkpointId} of job ${jobId}`);
    const buf = await readFile(join(dir, found.name));
    const corrupt = (why: string) => fail(ErrorCode.CHECKPOINT_PART_CORRUPT, `Part ${checkpointId} of job ${jobId}: ${why}`);
    if (buf.length < 8 + TRAILER || buf.toString('latin1', 0, 4) !== MAGIC) return corrupt('not a checkpoint part');
    const body = buf.subarray(0, buf.length - TRAILER);
    const sum = createHash('sha256').update(body).digest('hex');
    if (sum !== buf.subarray(buf.length - TRAILER).toString('hex')) return corrupt('damaged (its checksum does not match its contents)');
    if (sum !== sha256) return corrupt(`its checksum is ${sum.slice(0, 12)}…, the manifest names ${sha256.slice(0, 12)}…`);
    const headerLength = body.readUInt32LE(4);
    if (8 + headerLength > body.length) return corrupt('its header is truncated');
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8', 8, 8 + headerLength));
    } catch {
      return corrupt('its header is not JSON');
    }
    const header = headerSchema.safeParse(raw);
    if (!header.success) return corrupt('its header is malformed');
    const h = header.data;
    if (h.jobId !== jobId || h.task !== task || h.checkpointId !== checkpointId) return corrupt(`it is part ${h.checkpointId} of ${h.jobId} on task ${h.task}`);
    const per = 1 + h.slotNames.length;
    const payload = body.subarray(8 + headerLength);
    const want = h.slices.reduce((n, s) => n + sizeOf(s.shape) * 4 * per, 0);
    if (payload.length !== want || h.payloadBytes !== want) return corrupt(`its payload is ${payload.length} bytes, its slices need ${want}`);
    const take = floatReader(payload);
    return {
      version: h.version,
      applies: h.applies,
      slotNames: h.slotNames,
      slices: h.slices.map((s) => ({ name: s.name, shape: s.shape, values: take(sizeOf(s.shape)), slots: h.slotNames.map(() => take(sizeOf(s.shape))) })),
    };
  }

  /** Removes every part of `jobId` (the job was deleted), and any a write under way finishes; true when there were any. */
  async removeJob(jobId: string): Promise<boolean | Failure> {
    if (!SAFE_JOB_ID.test(jobId)) return fail(ErrorCode.BAD_REQUEST, `Job id "${jobId.slice(0, 40)}" cannot name a folder of checkpoint parts`);
    // Before the folder goes: a write that lands after the removal removes its own file.
    this.tombstones.add(jobId);
    for (const mark of this.writing.get(jobId) ?? []) mark.deleted = true;
    const dir = join(this.root, jobId);
    const had = await stat(dir).then(() => true, () => false);
    // A write's temporary file appearing while the folder is emptied makes one pass fail (ENOTEMPTY): asked again.
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    return had;
  }

  private dir(jobId: string, task: number): string | Failure {
    if (!SAFE_JOB_ID.test(jobId)) return fail(ErrorCode.BAD_REQUEST, `Job id "${jobId.slice(0, 40)}" cannot name a folder of checkpoint parts`);
    return join(this.root, jobId, `task-${task}`);
  }

  /** The parts in `dir`, oldest first. */
  private async parts(dir: string): Promise<{ name: string; seq: number; id: string }[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    return names
      .flatMap((name) => {
        const m = PART_NAME.exec(name);
        return m ? [{ name, seq: Number(m[1]), id: m[2]! }] : [];
      })
      .sort((a, b) => a.seq - b.seq);
  }

  /** Keeps the newest `keep` parts and those in `named`; a write that died left a temporary file, which goes too. */
  private async prune(dir: string, named: ReadonlySet<string>): Promise<void> {
    const all = await this.parts(dir);
    for (const p of all.slice(0, Math.max(0, all.length - this.keep))) if (!named.has(p.id)) await rm(join(dir, p.name), { force: true });
    for (const name of await readdir(dir)) if (name.startsWith('.') && name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
  }
}

/** Removes `dirs` in order while each is empty (a write made them again after its job's folder went). */
async function removeIfEmpty(...dirs: string[]): Promise<void> {
  for (const d of dirs) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}
