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
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointInfo } from '../../shared/operator-protocol.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { createLogger } from '../logger.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointContent } from './checkpoint-format.js';

const log = createLogger('checkpoint');
const NAME = /^ckpt-(\d{12})\.dpck$/;

/** A write for a job that was removed: nothing was written. */
export class CheckpointCancelledError extends Error {
  constructor(jobId: string) {
    super(`${jobId} was deleted; its checkpoint is not written`);
    this.name = 'CheckpointCancelledError';
  }
}

export class CheckpointStore {
  private readonly removed = new Set<string>();
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
      if (this.removed.has(c.jobId)) throw new CheckpointCancelledError(c.jobId);
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
    const all = await this.list(jobId);
    for (let i = all.length - 1; i >= 0; i--) {
      const file = join(this.dir(jobId), all[i]!.name);
      try {
        return decodeCheckpoint(await readFile(file));
      } catch (err) {
        log.warn('skipping damaged checkpoint', { jobId, file: all[i]!.name, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return null;
  }

  /** Deletes a job's checkpoints once its write in flight (if any) has landed; later writes for it are cancelled. */
  remove(jobId: string): Promise<void> {
    this.removed.add(jobId);
    return this.inTurn(jobId, () => rm(this.dir(jobId), { recursive: true, force: true }));
  }

  private async prune(jobId: string): Promise<void> {
    const all = await this.list(jobId);
    for (const c of all.slice(0, Math.max(0, all.length - this.keep))) await rm(join(this.dir(jobId), c.name), { force: true });
  }
}
