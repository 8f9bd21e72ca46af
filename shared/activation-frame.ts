/**
 * The frames a model replica's stages send each other (docs/model-parallelism.md): a
 * micro-batch's activations forward (with its labels: one byte per example, so the
 * last stage needs no shard), their gradients backward, or an abort of the step. The
 * same bytes go over a WebRTC data channel or the coordinator's relay, which never
 * decodes them; the receiving stage checks a frame as the PS checks a push.
 *
 * Layout, little-endian:
 *   0  "DPA1"
 *   4  u8 kind (0 forward, 1 backward, 2 abort) · u8 codec (0 fp32, 1 fp16) · u8 rank ·
 *      u8 flags (bit 0: the mini-batch closes a push: every stage pushes after it)
 *   8  u32 replica step · u16 micro-batch · u16 micro-batches in the step
 *  16  u32 examples in this micro-batch · u32 examples in the mini-batch
 *  24  f32 scale (fp16: the largest |value|, by which the values were divided; else 1)
 *  28  rank × u32: one example's shape
 *  then examples × shape values (fp32: 4 bytes; fp16: 2, scaled into [−1, 1] so small
 *  gradients do not flush to zero), then (forward only) examples label bytes.
 * An abort carries no values (examples 0, rank 0).
 */
import { ErrorCode } from './errors.js';
import type { ActivationCodec } from './job-spec.js';
import { halfTable, toHalfBits } from './codecs/half.js';
import { fail, type Failure } from './result.js';
import { sizeOf } from './tensors.js';

export const FRAME_MAGIC = 'DPA1';
export const FRAME_KINDS = ['forward', 'backward', 'abort'] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];
const CODECS: readonly ActivationCodec[] = ['fp32', 'fp16'];
const HEADER_BYTES = 28;
const MAX_RANK = 8;

export interface ActivationFrame {
  kind: FrameKind;
  codec: ActivationCodec;
  /** The replica's mini-batch, counted from 0 by every stage alike. */
  step: number;
  /** Forward: after this mini-batch every stage pushes its gradient (stage 0 alone knows where its lease's pushes end). */
  closesPush: boolean;
  micro: number;
  micros: number;
  /** Examples in this micro-batch, and in the whole mini-batch (the last stage scales each micro-batch's loss by their ratio). */
  examples: number;
  miniBatch: number;
  /** One example's shape (empty for an abort). */
  shape: number[];
  /** examples × shape values (empty for an abort). */
  values: Float32Array;
  /** Forward: one label per example; else empty. */
  labels: Uint8Array;
}

export type FrameFields = Omit<ActivationFrame, 'codec' | 'labels'> & { labels?: Uint8Array };

export function encodeFrame(f: FrameFields, codec: ActivationCodec): Uint8Array {
  const perValue = codec === 'fp16' ? 2 : 4;
  const labels = f.kind === 'forward' ? (f.labels ?? new Uint8Array(0)) : new Uint8Array(0);
  const start = HEADER_BYTES + 4 * f.shape.length;
  const out = new Uint8Array(start + f.values.length * perValue + labels.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = FRAME_MAGIC.charCodeAt(i);
  out[4] = FRAME_KINDS.indexOf(f.kind);
  out[5] = CODECS.indexOf(codec);
  out[6] = f.shape.length;
  out[7] = f.closesPush ? 1 : 0;
  view.setUint32(8, f.step, true);
  view.setUint16(12, f.micro, true);
  view.setUint16(14, f.micros, true);
  view.setUint32(16, f.examples, true);
  view.setUint32(20, f.miniBatch, true);
  let scale = 1;
  if (codec === 'fp16') {
    let largest = 0;
    for (const v of f.values) largest = Math.max(largest, Math.abs(v));
    // A non-finite value stays non-finite (the receiver refuses it), as the push codecs keep it.
    scale = largest > 0 && Number.isFinite(largest) ? largest : 1;
  }
  view.setFloat32(24, scale, true);
  f.shape.forEach((d, i) => view.setUint32(HEADER_BYTES + 4 * i, d, true));
  if (codec === 'fp32') {
    for (let i = 0; i < f.values.length; i++) view.setFloat32(start + 4 * i, f.values[i]!, true);
  } else {
    const inv = 1 / Math.fround(scale);
    for (let i = 0; i < f.values.length; i++) view.setUint16(start + 2 * i, toHalfBits(f.values[i]! * inv), true);
  }
  out.set(labels, start + f.values.length * perValue);
  return out;
}

/** An abort of step `step`: the sender refused a frame of its neighbour; the coordinator dissolves the replica on it. */
export function abortFrame(step: number, codec: ActivationCodec): Uint8Array {
  return encodeFrame({ kind: 'abort', step, closesPush: false, micro: 0, micros: 0, examples: 0, miniBatch: 0, shape: [], values: new Float32Array(0) }, codec);
}

/** Whether `bytes` are an abort frame: the relay looks at this much of a frame, and decodes nothing else. */
export function isAbortFrame(bytes: Uint8Array): boolean {
  if (bytes.byteLength !== HEADER_BYTES || bytes[4] !== FRAME_KINDS.indexOf('abort')) return false;
  for (let i = 0; i < 4; i++) if (bytes[i] !== FRAME_MAGIC.charCodeAt(i)) return false;
  return true;
}

/** What the receiver expects of the next frame: a frame of another size or shape is refused before its values are read. */
export interface FrameExpectation {
  /** One example's shape the stage exchanges across this boundary. */
  shape: readonly number[];
  codec: ActivationCodec;
  /** Most examples a micro-batch may hold (the job's batch size). */
  maxExamples: number;
  numClasses: number;
}

const bad = (message: string, code: ErrorCode = ErrorCode.BAD_ENCODING): Failure => fail(code, `Bad frame: ${message}`);

/** Decodes and checks a frame: magic, kind, codec, shape and byte length, finite values, labels in range. */
export function decodeFrame(data: ArrayBuffer | Uint8Array, want: FrameExpectation): ActivationFrame | Failure {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength < HEADER_BYTES) return bad(`${bytes.byteLength} bytes is shorter than a header`, ErrorCode.BYTE_LENGTH_MISMATCH);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== FRAME_MAGIC) return bad('it does not start with DPA1');
  const kind = FRAME_KINDS[bytes[4]!];
  const codec = CODECS[bytes[5]!];
  const rank = bytes[6]!;
  if (!kind) return bad(`unknown kind ${bytes[4]}`);
  if (bytes[7]! > 1) return bad(`unknown flags ${bytes[7]}`);
  if (codec !== want.codec) return bad(`codec ${codec ?? bytes[5]}, the job's is ${want.codec}`, ErrorCode.UNKNOWN_CODEC);
  const step = view.getUint32(8, true);
  const micro = view.getUint16(12, true);
  const micros = view.getUint16(14, true);
  const examples = view.getUint32(16, true);
  const miniBatch = view.getUint32(20, true);
  const scale = view.getFloat32(24, true);
  const frame = { kind, codec, step, closesPush: bytes[7] === 1, micro, micros, examples, miniBatch };
  if (kind === 'abort') {
    if (bytes.byteLength !== HEADER_BYTES) return bad('an abort carries no values', ErrorCode.BYTE_LENGTH_MISMATCH);
    return { ...frame, shape: [], values: new Float32Array(0), labels: new Uint8Array(0) };
  }
  if (rank > MAX_RANK || bytes.byteLength < HEADER_BYTES + 4 * rank) return bad(`rank ${rank}`, ErrorCode.SHAPE_MISMATCH);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(HEADER_BYTES + 4 * i, true));
  if (shape.length !== want.shape.length || shape.some((d, i) => d !== want.shape[i])) return bad(`examples of [${shape}], expected [${want.shape}]`, ErrorCode.SHAPE_MISMATCH);
  if (!(micros >= 1 && micro < micros && examples >= 1 && examples <= miniBatch && miniBatch <= want.maxExamples)) {
    return bad(`micro-batch ${micro} of ${micros} with ${examples} of ${miniBatch} examples (at most ${want.maxExamples})`, ErrorCode.BAD_REQUEST);
  }
  if (!(Number.isFinite(scale) && scale > 0)) return bad(`scale ${scale}`, ErrorCode.NON_FINITE);
  const n = examples * sizeOf(shape);
  const perValue = codec === 'fp16' ? 2 : 4;
  const start = HEADER_BYTES + 4 * rank;
  const labelBytes = kind === 'forward' ? examples : 0;
  if (bytes.byteLength !== start + n * perValue + labelBytes) {
    return bad(`${bytes.byteLength} bytes; ${examples} examples of [${shape}] take ${start + n * perValue + labelBytes}`, ErrorCode.BYTE_LENGTH_MISMATCH);
  }
  const values = new Float32Array(n);
  if (codec === 'fp32') for (let i = 0; i < n; i++) values[i] = view.getFloat32(start + 4 * i, true);
  else {
    const table = halfTable();
    for (let i = 0; i < n; i++) values[i] = table[view.getUint16(start + 2 * i, true)]! * scale;
  }
  for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) return bad(`value ${i} is ${values[i]}`, ErrorCode.NON_FINITE);
  const labels = bytes.slice(start + n * perValue);
  const stray = labels.findIndex((l) => l >= want.numClasses);
  if (stray >= 0) return bad(`label ${labels[stray]} is not one of ${want.numClasses} classes`, ErrorCode.BAD_REQUEST);
  return { ...frame, shape, values, labels };
}
