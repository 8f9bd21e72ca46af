/**
 * Fashion-MNIST (60k/10k, 28×28 grey, 10 clothing classes) from Debian's
 * `dataset-fashion-mnist` package; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { loadIdxImages } from './idx-images.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
/** Labels 0–9, as Zalando's README names them. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

export function loadFashionMnist(dir = FASHION_MNIST_DIR): Dataset {
  if (!existsSync(join(dir, 'train-images-idx3-ubyte.gz'))) {
    throw new Error(`Fashion-MNIST is not installed at ${dir}: apt-get install dataset-fashion-mnist`);
  }
  return loadIdxImages('fashion-mnist', dir, '.gz', FASHION_MNIST_CLASSES);
}
