/**
 * The datasets a coordinator can train on: built-ins (MNIST, Fashion-MNIST, iris),
 * loaded on first use, and operator uploads kept under `<dataDir>/datasets/`. An upload
 * is parsed and validated whole, then written atomically, then registered: a bad file
 * is refused with its reason and leaves nothing behind.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_NAME_PATTERN } from '../../shared/job-spec.js';
import type { DatasetInfo } from '../../shared/operator-protocol.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { createLogger } from '../logger.js';
import { DatasetFormatError, parseCsvDataset } from './csv-dataset.js';
import type { Dataset } from './dataset.js';
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

  /** `uploadDir`: where uploads live; null keeps uploads in memory only (tests). */
  constructor(private readonly uploadDir: string | null) {
    if (!uploadDir) return;
    mkdirSync(uploadDir, { recursive: true });
    for (const file of readdirSync(uploadDir)) {
      const name = file.replace(/\.csv$/, '');
      if (!file.endsWith('.csv') || !DATASET_NAME_PATTERN.test(name)) continue;
      try {
        this.loaded.set(name, parseCsvDataset(name, readFileSync(join(uploadDir, file), 'utf8')));
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

  async upload(name: string, format: string, bytes: Buffer): Promise<Dataset> {
    if (!DATASET_NAME_PATTERN.test(name)) throw new DatasetFormatError(`Dataset name "${name.slice(0, 60)}" must match ${DATASET_NAME_PATTERN}`);
    if (this.has(name)) throw new DatasetFormatError(`A dataset named "${name}" already exists`);
    if (!(UPLOAD_FORMATS as readonly string[]).includes(format)) throw new DatasetFormatError(`Format "${format.slice(0, 20)}" is not one of ${UPLOAD_FORMATS.join(', ')}`);
    const ds = parseCsvDataset(name, bytes.toString('utf8'));
    if (this.uploadDir) {
      await writeFileAtomic(join(this.uploadDir, `${name}.csv`), bytes);
    }
    this.loaded.set(name, ds);
    this.uploads.add(name);
    return ds;
  }
}
