/**
 * The highest chief epoch a ps task has accepted, kept in its data directory so that a
 * task restarted from it still refuses a deposed chief (STALE_CHIEF): without it a
 * restarted task would take any epoch, and an old chief that still runs could reach
 * into it again. Written before the epoch is acted on, atomically (a temporary file,
 * fsync, rename, fsync of the folder), so a crash leaves the old number or the new one.
 * Synchronous on purpose: a new epoch is adopted once per chief, and the message that
 * raised it must not be acted on before the number is durable.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fs/atomic-write.js';

const FILE = 'chief-epoch';

export class ChiefEpochFile {
  private readonly path: string;

  constructor(private readonly dir: string) {
    this.path = join(dir, FILE);
  }

  /** The epoch stored, 0 when there is none yet. A file that is not a positive integer is an error: silently trusting any epoch is what this file prevents. */
  read(): number {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const epoch = Number(text.trim());
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new Error(`${this.path} does not hold a chief epoch (${JSON.stringify(text.slice(0, 40))}): remove it only if no older chief can still be running`);
    return epoch;
  }

  /** Makes `epoch` durable under the file's name. */
  write(epoch: number): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomicSync(this.path, new TextEncoder().encode(`${epoch}\n`));
  }
}
