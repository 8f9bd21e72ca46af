/** Named datasets, loaded once per process on first use. */
import type { DatasetName } from '../../shared/job-spec.js';
import type { Dataset } from './dataset.js';
import { loadMnist } from './mnist.js';

const LOADERS: Record<DatasetName, () => Dataset> = {
  mnist: () => loadMnist(),
};

const cache = new Map<DatasetName, Dataset>();

export function getDataset(name: DatasetName): Dataset {
  let ds = cache.get(name);
  if (!ds) {
    ds = LOADERS[name]();
    cache.set(name, ds);
  }
  return ds;
}
