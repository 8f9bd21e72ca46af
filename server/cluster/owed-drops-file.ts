/**
 * The deleted jobs a ps task has not yet confirmed dropping, kept on the chief's disk
 * (`<dataDir>/ps-part-drops.json`) so a chief restarted before the task comes back still
 * tells it. Written whole and atomically on every change; the list is short (jobs
 * deleted while a task was down).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { createLogger } from '../logger.js';

const log = createLogger('ps-cluster');

const fileSchema = z.object({ version: z.literal(1), owed: z.record(z.string().regex(/^\d{1,3}$/), z.array(z.string().min(1).max(200)).max(100_000)) }).strict();

export type OwedDrops = Map<number, Set<string>>;

/** What the file holds; nothing when it is absent. A damaged file is logged and read as empty: its worst cost is parts left on a disk. */
export function readOwedDrops(path: string): OwedDrops {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('could not read the owed part drops', { path, error: String(err) });
    return new Map();
  }
  let parsed;
  try {
    parsed = fileSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = null;
  }
  if (!parsed?.success) {
    log.warn('the owed part drops file is damaged; starting without it', { path });
    return new Map();
  }
  return new Map(Object.entries(parsed.data.owed).map(([task, jobs]) => [Number(task), new Set(jobs)]));
}

/** Writes `owed` in the order the changes came (each write waits for the one before). */
export class OwedDropsFile {
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  save(owed: OwedDrops): Promise<void> {
    const body = JSON.stringify({ version: 1, owed: Object.fromEntries([...owed].map(([task, jobs]) => [String(task), [...jobs]])) });
    this.last = this.last.then(() => writeFileAtomic(this.path, new TextEncoder().encode(body)).catch((err) => log.warn('could not write the owed part drops', { path: this.path, error: String(err) })));
    return this.last;
  }
}
