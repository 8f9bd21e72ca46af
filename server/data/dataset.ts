/** An in-memory labelled dataset split, features as bytes scaled by 1/255 or float32. */
import { FeatureEncoding } from '../../shared/shard-format.js';

export interface Split {
  count: number;
  /** count × featureLength values. */
  features: Uint8Array | Float32Array;
  labels: Uint8Array;
}

export interface Dataset {
  name: string;
  featureShape: number[];
  numClasses: number;
  /** Each class's name, by label; default: the label numbers ("0", "1", …). */
  classNames?: readonly string[];
  encoding: FeatureEncoding;
  train: Split;
  test: Split;
}

export function featureLength(ds: Pick<Dataset, 'featureShape'>): number {
  return ds.featureShape.reduce((a, b) => a * b, 1);
}

/** The name of every class, by label: the dataset's own, or the label numbers. */
export function classNamesOf(ds: Pick<Dataset, 'numClasses' | 'classNames'>): string[] {
  return Array.from({ length: ds.numClasses }, (_, i) => ds.classNames?.[i] ?? String(i));
}

/** Features of one split as float32 in the model's input range. */
export function featuresAsFloat(ds: Dataset, split: Split): Float32Array {
  if (split.features instanceof Float32Array) return split.features;
  const out = new Float32Array(split.features.length);
  const scale = ds.encoding === FeatureEncoding.UINT8_UNIT ? 1 / 255 : 1;
  for (let i = 0; i < out.length; i++) out[i] = split.features[i]! * scale;
  return out;
}
