/**
 * Writes a file so that a crash leaves either the old file or the whole new one:
 * a temporary file in the same directory, fsync, rename over the target, then fsync of
 * the directory so the rename itself is durable. AtomicFile does the same for a file
 * written piece by piece as it arrives (an upload), so it never has to be held whole.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export class AtomicFile {
  private done = false;

  private constructor(
    private readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string): Promise<AtomicFile> {
    // A dot-name that no reader of the directory mistakes for a finished file, unique per
    // write: two writes of one path at once must not share (and truncate) a temporary file.
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    return new AtomicFile(path, tmp, await open(tmp, 'wx'));
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.fh.write(bytes);
  }

  /** Makes the file durable under its name; on failure nothing is left behind. */
  async commit(): Promise<void> {
    this.done = true;
    try {
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.path);
    } catch (err) {
      await this.fh.close().catch(() => undefined);
      await rm(this.tmp, { force: true });
      throw err;
    }
    const d = await open(dirname(this.path), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  /** Drops the temporary file; the target is left as it was. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const file = await AtomicFile.open(path);
  try {
    await file.write(bytes);
  } catch (err) {
    await file.abort();
    throw err;
  }
  await file.commit();
}

/**
 * The same, synchronously: for a small file whose write must be durable before the
 * caller acts on what it records (a ps task's chief epoch), with nothing in between.
 */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  const d = openSync(dirname(path), 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}
