/**
 * Binary tensor codecs. A payload is a manifest (JSON-sized metadata) plus one byte
 * buffer; tensors never travel as JSON arrays. The manifest names the codec: `fp32`
 * (lossless), `fp16`, `int8` (block-scaled), `topk` or `topk-packed` (sparse), one file each in
 * shared/codecs/, where each documents its byte layout.
 *
 * Decoding writes into caller-owned Float32Arrays: the parameter server reuses one
 * gradient buffer (an array per tensor), so the hot path allocates nothing per element.
 */
import { fp16 } from './codecs/fp16.js';
import { fp32 } from './codecs/fp32.js';
import { int8 } from './codecs/int8.js';
import { createTopk } from './codecs/topk.js';
import { createTopkPacked } from './codecs/topk-packed.js';
import { CODEC_IDS, DEFAULT_TOPK_RATIO, type CodecId, type CodecParams, type TensorCodec, type TensorEntry } from './codecs/types.js';
import { sizeOf, type TensorSpec } from './tensors.js';

export { CODEC_IDS, DEFAULT_TOPK_RATIO };
export type { CodecId, CodecParams, TensorCodec, TensorEntry };

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

function isCodecId(id: string): id is CodecId {
  return (CODEC_IDS as readonly string[]).includes(id);
}

/**
 * A codec with the job's parameters. Parameterised codecs (topk's ratio) are built
 * per job from its spec, so the server and every worker agree on byte lengths.
 */
export function createCodec(id: CodecId, params: Partial<CodecParams> = {}): TensorCodec {
  switch (id) {
    case 'fp32':
      return fp32;
    case 'fp16':
      return fp16;
    case 'int8':
      return int8;
    case 'topk':
      return createTopk(params.topkRatio ?? DEFAULT_TOPK_RATIO);
    case 'topk-packed':
      return createTopkPacked(params.topkRatio ?? DEFAULT_TOPK_RATIO);
    default: {
      const check: never = id;
      throw new Error(`Unknown codec ${String(check)}`);
    }
  }
}

const DEFAULTS = new Map<CodecId, TensorCodec>();

/** A codec by id with default parameters (topk: ratio 0.01); undefined for an unknown id. */
export function getCodec(id: string): TensorCodec | undefined {
  if (!isCodecId(id)) return undefined;
  let codec = DEFAULTS.get(id);
  if (!codec) DEFAULTS.set(id, (codec = createCodec(id)));
  return codec;
}

export function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export function encodeTensors(tensors: readonly NamedValues[], codecOrId: CodecId | TensorCodec = 'fp32'): TensorPayload {
  const codec = typeof codecOrId === 'string' ? createCodec(codecOrId) : codecOrId;
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
  return { manifest: { codec: codec.id, tensors: entries }, data: out };
}

/**
 * Decodes a payload whose manifest has already been checked against `specs`
 * (see the server's push validation). Allocates the outputs: for clients, not the PS.
 * Throws on a manifest no codec reads (a pull's delta manifest: see param-delta.ts).
 */
export function decodeTensors(
  payload: { manifest: { codec: string; tensors: TensorEntry[] }; data: ArrayBuffer | Uint8Array },
  specs: readonly TensorSpec[],
  codec: TensorCodec | undefined = getCodec(payload.manifest.codec),
): Float32Array[] {
  if (!codec || codec.id !== payload.manifest.codec) throw new Error(`Cannot decode codec ${payload.manifest.codec}`);
  const bytes = asBytes(payload.data);
  return specs.map((spec, i) => {
    const out = new Float32Array(sizeOf(spec.shape));
    const bad = codec.readInto(payload.manifest.tensors[i]!, bytes, out);
    if (bad) throw new Error(`Tensor ${spec.name}: ${bad}`);
    return out;
  });
}

/** The codec a job spec or assignment names, with its parameters. */
export function codecOf(job: { codec: CodecId; topkRatio: number }): TensorCodec {
  return createCodec(job.codec, { topkRatio: job.topkRatio });
}
