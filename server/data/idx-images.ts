/**
 * A 28×28 grey image dataset in the MNIST file layout (`train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-…`), optionally gzipped: MNIST and Fashion-MNIST.
 */
import { join } from 'node:path';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { Dataset, Split } from './dataset.js';
import { readIdxFile } from './idx.js';

function readSplit(name: string, dir: string, prefix: 'train' | 't10k', suffix: string): Split {
  const images = readIdxFile(join(dir, `${prefix}-images-idx3-ubyte${suffix}`));
  const labels = readIdxFile(join(dir, `${prefix}-labels-idx1-ubyte${suffix}`));
  const count = images.dims[0]!;
  if (labels.dims[0] !== count) throw new Error(`${name} ${prefix}: ${count} images but ${labels.dims[0]} labels`);
  if (images.dims[1] !== 28 || images.dims[2] !== 28) throw new Error(`${name} ${prefix}: images are [${images.dims}]`);
  return { count, features: images.data, labels: labels.data };
}

/** `suffix`: '' for raw files, '.gz' for gzipped ones. */
export function loadIdxImages(name: string, dir: string, suffix: '' | '.gz', classNames?: readonly string[], numClasses = classNames?.length ?? 10): Dataset {
  return {
    name,
    featureShape: [28, 28, 1],
    numClasses,
    ...(classNames ? { classNames } : {}),
    encoding: FeatureEncoding.UINT8_UNIT,
    train: readSplit(name, dir, 'train', suffix),
    test: readSplit(name, dir, 't10k', suffix),
  };
}
