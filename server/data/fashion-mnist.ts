/**
 * Fashion-MNIST (60k/10k, 28×28 grey, 10 clothing classes) from Debian's
 * `dataset-fashion-mnist` package; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { Dataset, Split } from './dataset.js';
import { readIdxFile } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function readSplit(dir: string, prefix: 'train' | 't10k'): Split {
  const images = readIdxFile(join(dir, `${prefix}-images-idx3-ubyte.gz`));
  const labels = readIdxFile(join(dir, `${prefix}-labels-idx1-ubyte.gz`));
  if (labels.dims[0] !== images.dims[0]) throw new Error(`Fashion-MNIST ${prefix}: ${images.dims[0]} images, ${labels.dims[0]} labels`);
  return { count: images.dims[0]!, features: images.data, labels: labels.data };
}

export function loadFashionMnist(dir = FASHION_MNIST_DIR): Dataset {
  if (!existsSync(join(dir, 'train-images-idx3-ubyte.gz'))) {
    throw new Error(`Fashion-MNIST is not installed at ${dir}: apt-get install dataset-fashion-mnist`);
  }
  return {
    name: 'fashion-mnist',
    featureShape: [28, 28, 1],
    numClasses: 10,
    encoding: FeatureEncoding.UINT8_UNIT,
    train: readSplit(dir, 'train'),
    test: readSplit(dir, 't10k'),
  };
}
