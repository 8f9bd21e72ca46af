/**
 * Checkpoint files per job under `<dataDir>/checkpoints/<jobId>/`, written atomically
 * (server/fs/atomic-write.ts) so that a crash leaves either the old file set or the new
 * one. The last `keep` are kept.
 *
 * A removal wins over writes: a job's writes and its removal run one after another,
 * and once a job is removed every write for it, queued or later (a deleted job still
 * checkpoints once when its stop's evaluation returns), is cancelled before it touches
 * the disk, so a deleted job's folder is never created again.
 */
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointInfo } from '../../shared/operator-protocol.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { createLogger } from '../logger.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointContent } from './checkpoint-format.js';

const log = createLogger('checkpoint');
const NAME = /^ckpt-(\d{12})\.dpck$/;
const JOB_FOLDER = /^job-\d+$/;

export interface RefusedCheckpoint {
  name: string;
  reason: string;
}

export interface UsableCheckpoint {
  checkpoint: CheckpointContent | null;
  /** Newer checkpoints passed over, newest first. */
  refused: RefusedCheckpoint[];
}

/** A write for a job whose writes were stopped (deleted, or failed at a restart): nothing was written. */
export class CheckpointCancelledError extends Error {
  constructor(jobId: string, why: string) {
    super(`${jobId} ${why}; its checkpoint is not written`);
    this.name = 'CheckpointCancelledError';
  }
}

export class CheckpointStore {
  /** Jobs whose writes are cancelled, and why. */
  private readonly stopped = new Map<string, string>();
  /** The last write or removal queued per job; the next one starts when it settles. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly root: string,
    private readonly keep = 3,
  ) {}

  private dir(jobId: string): string {
    return join(this.root, jobId);
  }

  private inTurn<T>(jobId: string, op: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(jobId) ?? Promise.resolve()).then(op);
    const tail = run.catch(() => undefined);
    this.tails.set(jobId, tail);
    void tail.then(() => this.tails.get(jobId) === tail && this.tails.delete(jobId));
    return run;
  }

  write(c: CheckpointContent): Promise<CheckpointInfo> {
    return this.inTurn(c.jobId, async () => {
      const stopped = this.stopped.get(c.jobId);
      if (stopped) throw new CheckpointCancelledError(c.jobId, stopped);
      const dir = this.dir(c.jobId);
      await mkdir(dir, { recursive: true });
      const name = `ckpt-${String(c.store.version).padStart(12, '0')}.dpck`;
      const bytes = encodeCheckpoint(c);
      await writeFileAtomic(join(dir, name), bytes);
      await this.prune(c.jobId);
      return { name, version: c.store.version, at: c.at, bytes: bytes.length };
    });
  }

  async list(jobId: string): Promise<CheckpointInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir(jobId));
    } catch {
      return [];
    }
    const out: CheckpointInfo[] = [];
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m) continue;
      const st = await stat(join(this.dir(jobId), name));
      out.push({ name, version: Number(m[1]), at: st.mtimeMs, bytes: st.size });
    }
    return out.sort((a, b) => a.version - b.version);
  }

  /** The path of a checkpoint by name, or null if the name is not one of this job's. */
  async path(jobId: string, name: string): Promise<string | null> {
    if (!NAME.test(name)) return null;
    return (await this.list(jobId)).some((c) => c.name === name) ? join(this.dir(jobId), name) : null;
  }

  /** The newest checkpoint that verifies; torn or damaged files are skipped and reported. */
  async latestValid(jobId: string): Promise<CheckpointContent | null> {
    return (await this.latestUsable(jobId)).checkpoint;
  }

  /**
   * The newest checkpoint that verifies and that `misfit` (a reason, or null) accepts,
   * with the newer ones refused on the way and why: torn, damaged or not this model's.
   */
  async latestUsable(jobId: string, misfit: (c: CheckpointContent) => string | null = () => null): Promise<UsableCheckpoint> {
    const all = await this.list(jobId);
    const refused: RefusedCheckpoint[] = [];
    for (let i = all.length - 1; i >= 0; i--) {
      const name = all[i]!.name;
      let reason: string | null;
      try {
        const c = decodeCheckpoint(await readFile(join(this.dir(jobId), name)));
        reason = misfit(c);
        if (reason === null) return { checkpoint: c, refused };
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
      log.warn('skipping checkpoint', { jobId, file: name, reason });
      refused.push({ name, reason });
    }
    return { checkpoint: null, refused };
  }

  /**
   * Moves refused checkpoints out of the listing (to `<name>.refused`, kept for a person
   * to look at): they would otherwise stay "newest" and hold one of the `keep` places.
   */
  setAside(jobId: string, names: readonly string[]): Promise<void> {
    return this.inTurn(jobId, async () => {
      for (const name of names) if (NAME.test(name)) await rename(join(this.dir(jobId), name), join(this.dir(jobId), `${name}.refused`)).catch(() => undefined);
    });
  }

  /** Removes the folders of jobs not in `jobIds` (deleted while a write was landing, or by an older version). */
  async removeAllBut(jobIds: ReadonlySet<string>): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.root);
    } catch {
      return [];
    }
    const orphans = entries.filter((e) => JOB_FOLDER.test(e) && !jobIds.has(e));
    await Promise.all(orphans.map((id) => this.remove(id)));
    return orphans;
  }

  /**
   * Cancels every later write for a job while keeping what it has: a job failed because
   * none of its checkpoints fits would otherwise checkpoint its untrained parameters as
   * if they were its state.
   */
  stopWrites(jobId: string, why: string): void {
    this.stopped.set(jobId, why);
  }

  /** Deletes a job's checkpoints once its write in flight (if any) has landed; later writes for it are cancelled. */
  remove(jobId: string): Promise<void> {
    this.stopped.set(jobId, 'was deleted');
    return this.inTurn(jobId, () => rm(this.dir(jobId), { recursive: true, force: true }));
  }

  private async prune(jobId: string): Promise<void> {
    const all = await this.list(jobId);
    for (const c of all.slice(0, Math.max(0, all.length - this.keep))) await rm(join(this.dir(jobId), c.name), { force: true });
  }
}
