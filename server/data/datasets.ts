/**
 * The datasets a coordinator can train on: built-ins (MNIST, Fashion-MNIST, iris),
 * loaded on first use, and operator uploads kept under `<dataDir>/datasets/`. An upload
 * is parsed and validated whole, then written atomically, then registered: a bad file
 * is refused with its reason and leaves nothing behind. A name is taken the moment an
 * upload starts (a second upload of it is a conflict, not a race over one file) and
 * stays taken until a deletion has removed the file.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASET_NAME_PATTERN } from '../../shared/job-spec.js';
import type { DatasetInfo } from '../../shared/operator-protocol.js';
import { AtomicFile } from '../fs/atomic-write.js';
import { createLogger } from '../logger.js';
import { parseCsvDataset, parseCsvDatasetSync } from './csv-dataset.js';
import type { Dataset } from './dataset.js';
import { DatasetConflictError, DatasetFormatError } from './dataset-errors.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';
import { loadIris } from './tabular.js';

const log = createLogger('datasets');

export const BUILTIN_DATASETS: Record<string, () => Dataset> = {
  mnist: () => loadMnist(),
  'fashion-mnist': () => loadFashionMnist(),
  iris: () => loadIris(),
};

export const UPLOAD_FORMATS = ['csv'] as const;

export class DatasetRegistry {
  private readonly loaded = new Map<string, Dataset>();
  private readonly uploads = new Set<string>();
  /** Names being uploaded or deleted: taken, though not (or no longer) usable. */
  private readonly busy = new Set<string>();

  /** `uploadDir`: where uploads live; null keeps uploads in memory only (tests). */
  constructor(private readonly uploadDir: string | null) {
    if (!uploadDir) return;
    mkdirSync(uploadDir, { recursive: true });
    for (const file of readdirSync(uploadDir)) {
      const name = file.replace(/\.csv$/, '');
      if (!file.endsWith('.csv') || !DATASET_NAME_PATTERN.test(name)) continue;
      try {
        this.loaded.set(name, parseCsvDatasetSync(name, readFileSync(join(uploadDir, file))));
        this.uploads.add(name);
      } catch (err) {
        log.warn('ignoring unreadable uploaded dataset', { file, err });
      }
    }
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(BUILTIN_DATASETS, name) || this.uploads.has(name);
  }

  /** Loads (once) and returns a dataset; throws with a reason a person can act on. */
  get(name: string): Dataset {
    const cached = this.loaded.get(name);
    if (cached) return cached;
    if (!Object.prototype.hasOwnProperty.call(BUILTIN_DATASETS, name)) throw new Error(`Unknown dataset "${name}"`);
    const ds = BUILTIN_DATASETS[name]!();
    this.loaded.set(name, ds);
    return ds;
  }

  list(): DatasetInfo[] {
    const names = [...Object.keys(BUILTIN_DATASETS), ...this.uploads];
    const out: DatasetInfo[] = [];
    for (const name of names) {
      try {
        const ds = this.get(name);
        out.push({
          name,
          featureShape: [...ds.featureShape],
          numClasses: ds.numClasses,
          trainCount: ds.train.count,
          testCount: ds.test.count,
          source: this.uploads.has(name) ? 'upload' : 'builtin',
        });
      } catch {
        // A built-in whose package is not installed here is simply not offered.
      }
    }
    return out;
  }

  /**
   * Registers an upload from its chunks as they arrive: parsed and written to a
   * temporary file together, renamed into place only when the whole file is valid.
   */
  async upload(name: string, format: string, chunks: AsyncIterable<Uint8Array>): Promise<Dataset> {
    if (!DATASET_NAME_PATTERN.test(name)) throw new DatasetFormatError(`Dataset name "${name.slice(0, 60)}" must match ${DATASET_NAME_PATTERN}`);
    if (!(UPLOAD_FORMATS as readonly string[]).includes(format)) throw new DatasetFormatError(`Format "${format.slice(0, 20)}" is not one of ${UPLOAD_FORMATS.join(', ')}`);
    this.take(name);
    let file: AtomicFile | null = null;
    try {
      file = this.uploadDir ? await AtomicFile.open(join(this.uploadDir, `${name}.csv`)) : null;
      const kept = file;
      async function* written() {
        for await (const chunk of chunks) {
          await kept?.write(chunk);
          yield chunk;
        }
      }
      const ds = await parseCsvDataset(name, written());
      await file?.commit();
      this.loaded.set(name, ds);
      this.uploads.add(name);
      return ds;
    } catch (err) {
      await file?.abort();
      throw err;
    } finally {
      this.busy.delete(name);
    }
  }

  /**
   * Deletes an upload and its file; built-ins cannot be deleted. Whether jobs still use
   * it is for the caller to check (it knows the jobs). Returns the dataset removed.
   */
  async remove(name: string): Promise<Dataset | null> {
    if (Object.prototype.hasOwnProperty.call(BUILTIN_DATASETS, name)) throw new DatasetConflictError(`"${name}" is a built-in dataset; only uploads can be deleted`);
    if (this.busy.has(name)) throw new DatasetConflictError(`A dataset named "${name}" is being uploaded or deleted`);
    if (!this.uploads.has(name)) return null;
    const ds = this.loaded.get(name) ?? null;
    this.uploads.delete(name);
    this.loaded.delete(name);
    this.busy.add(name);
    try {
      if (this.uploadDir) await rm(join(this.uploadDir, `${name}.csv`), { force: true });
    } finally {
      this.busy.delete(name);
    }
    return ds;
  }

  /** Claims a name for an upload, synchronously: the check and the claim cannot be split by another request. */
  private take(name: string): void {
    if (this.busy.has(name)) throw new DatasetConflictError(`A dataset named "${name}" is being uploaded or deleted`);
    if (this.has(name)) throw new DatasetConflictError(`A dataset named "${name}" already exists; delete it first (DELETE /api/datasets/${name})`);
    this.busy.add(name);
  }
}
