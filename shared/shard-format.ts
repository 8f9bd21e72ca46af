/**
 * Binary data shard: what a worker downloads to train on. Self-describing so a
 * worker can check what it got before it trains on it.
 *
 *   0  "DPS1"            magic
 *   4  u32 count         examples
 *   8  u32 featureLength values per example
 *  12  u16 numClasses
 *  14  u8  encoding      0 = float32 features, 1 = uint8 features scaled by 1/255
 *  15  u8  reserved
 *  16  features          count × featureLength (float32 LE or uint8)
 *  ..  labels            count × uint8 class index
 *
 * MNIST pixels travel as bytes: four times smaller than float32, exact after /255.
 */
export const SHARD_MAGIC = 'DPS1';
export const SHARD_HEADER_BYTES = 16;

export const FeatureEncoding = { FLOAT32: 0, UINT8_UNIT: 1 } as const;
export type FeatureEncoding = (typeof FeatureEncoding)[keyof typeof FeatureEncoding];

export interface ShardHeader {
  count: number;
  featureLength: number;
  numClasses: number;
  encoding: FeatureEncoding;
}

export interface DecodedShard extends ShardHeader {
  /** count × featureLength values in [0, 1] for UINT8_UNIT. */
  features: Float32Array;
  labels: Uint8Array;
}

export function shardByteLength(h: ShardHeader): number {
  const featureBytes = h.count * h.featureLength * (h.encoding === FeatureEncoding.FLOAT32 ? 4 : 1);
  return SHARD_HEADER_BYTES + featureBytes + h.count;
}

export function encodeShard(h: ShardHeader, features: Uint8Array | Float32Array, labels: Uint8Array): Uint8Array {
  if (labels.length !== h.count) throw new Error(`Shard has ${labels.length} labels for ${h.count} examples`);
  if (features.length !== h.count * h.featureLength) {
    throw new Error(`Shard has ${features.length} feature values, expected ${h.count * h.featureLength}`);
  }
  const out = new Uint8Array(shardByteLength(h));
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = SHARD_MAGIC.charCodeAt(i);
  view.setUint32(4, h.count, true);
  view.setUint32(8, h.featureLength, true);
  view.setUint16(12, h.numClasses, true);
  view.setUint8(14, h.encoding);
  const featureBytes = new Uint8Array(features.buffer, features.byteOffset, features.byteLength);
  out.set(featureBytes, SHARD_HEADER_BYTES);
  out.set(labels, SHARD_HEADER_BYTES + featureBytes.length);
  return out;
}

export function decodeShard(bytes: Uint8Array): DecodedShard {
  if (bytes.length < SHARD_HEADER_BYTES) throw new Error(`Shard of ${bytes.length} bytes is shorter than its header`);
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== SHARD_MAGIC) throw new Error(`Shard magic is "${magic}", expected "${SHARD_MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const encoding = view.getUint8(14);
  if (encoding !== FeatureEncoding.FLOAT32 && encoding !== FeatureEncoding.UINT8_UNIT) {
    throw new Error(`Shard feature encoding ${encoding} is unknown`);
  }
  const h: ShardHeader = {
    count: view.getUint32(4, true),
    featureLength: view.getUint32(8, true),
    numClasses: view.getUint16(12, true),
    encoding,
  };
  if (bytes.length !== shardByteLength(h)) {
    throw new Error(`Shard is ${bytes.length} bytes, its header says ${shardByteLength(h)}`);
  }
  const n = h.count * h.featureLength;
  const features = new Float32Array(n);
  if (encoding === FeatureEncoding.UINT8_UNIT) {
    const src = bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + n);
    for (let i = 0; i < n; i++) features[i] = src[i]! / 255;
  } else {
    new Uint8Array(features.buffer).set(bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + n * 4));
  }
  const labelsStart = bytes.length - h.count;
  const labels = bytes.slice(labelsStart);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= h.numClasses) throw new Error(`Label ${labels[i]} at ${i} is not below ${h.numClasses} classes`);
  }
  return { ...h, features, labels };
}
