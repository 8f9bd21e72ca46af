/**
 * Binary tensor codec. A payload is a manifest (JSON-sized metadata) plus one byte
 * buffer; tensors never travel as JSON arrays. Codecs are looked up by id so that
 * compressed encodings (fp16, int8, top-k) can join `fp32` without changing the wire.
 *
 * Decoding writes into caller-owned Float32Arrays: the parameter server reuses one
 * scratch buffer per tensor, so the hot path allocates nothing per element.
 */
import { sizeOf, type TensorSpec } from './tensors.js';

export type CodecId = 'fp32';
export const CODEC_IDS: readonly CodecId[] = ['fp32'];

/** Where one tensor sits in the payload's byte buffer. */
export interface TensorEntry {
  name: string;
  shape: number[];
  /** Element type on the wire. */
  dtype: 'float32';
  offset: number;
  byteLength: number;
}

export interface TensorManifest {
  codec: CodecId;
  tensors: TensorEntry[];
}

/** A manifest plus its bytes: ArrayBuffer in browsers, Buffer (a Uint8Array) in Node. */
export interface TensorPayload {
  manifest: TensorManifest;
  data: ArrayBuffer | Uint8Array;
}

export interface NamedValues {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface TensorCodec {
  id: CodecId;
  /** Bytes this codec uses for a tensor of `size` elements. */
  byteLength(size: number): number;
  /** Writes `values` at `offset` of `out`. */
  write(values: Float32Array, out: Uint8Array, offset: number): void;
  /** Reads the tensor described by `entry` from `bytes` into `out` (length = size). */
  readInto(entry: TensorEntry, bytes: Uint8Array, out: Float32Array): void;
}

const fp32: TensorCodec = {
  id: 'fp32',
  byteLength: (size) => size * 4,
  write(values, out, offset) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
  },
  readInto(entry, bytes, out) {
    const at = bytes.byteOffset + entry.offset;
    if (at % 4 === 0) {
      out.set(new Float32Array(bytes.buffer, at, out.length));
    } else {
      // Node may hand us a pooled Buffer at an odd offset: copy bytes, not floats.
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(
        bytes.subarray(entry.offset, entry.offset + entry.byteLength),
      );
    }
  },
};

const CODECS: Record<CodecId, TensorCodec> = { fp32 };

export function getCodec(id: string): TensorCodec | undefined {
  return Object.prototype.hasOwnProperty.call(CODECS, id) ? CODECS[id as CodecId] : undefined;
}

export function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export function encodeTensors(tensors: readonly NamedValues[], codecId: CodecId = 'fp32'): TensorPayload {
  const codec = CODECS[codecId];
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = sizeOf(t.shape);
    if (size !== t.values.length) {
      throw new Error(`Tensor ${t.name} has ${t.values.length} values but shape [${t.shape}] needs ${size}`);
    }
    const byteLength = codec.byteLength(size);
    entries.push({ name: t.name, shape: [...t.shape], dtype: 'float32', offset, byteLength });
    offset += byteLength;
  }
  const out = new Uint8Array(offset);
  tensors.forEach((t, i) => codec.write(t.values, out, entries[i]!.offset));
  return { manifest: { codec: codecId, tensors: entries }, data: out };
}

/**
 * Decodes a payload whose manifest has already been checked against `specs`
 * (see the server's push validation). Allocates the outputs: for clients, not the PS.
 */
export function decodeTensors(payload: TensorPayload, specs: readonly TensorSpec[]): Float32Array[] {
  const codec = getCodec(payload.manifest.codec);
  if (!codec) throw new Error(`Unknown codec ${payload.manifest.codec}`);
  const bytes = asBytes(payload.data);
  return specs.map((spec, i) => {
    const out = new Float32Array(sizeOf(spec.shape));
    codec.readInto(payload.manifest.tensors[i]!, bytes, out);
    return out;
  });
}
