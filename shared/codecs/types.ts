/**
 * The codec contract, in its own file so that each codec (one file each) and the
 * registry in shared/codec.ts can import it without a cycle.
 */

export const CODEC_IDS = ['fp32', 'fp16', 'int8', 'topk', 'topk-packed'] as const;
export type CodecId = (typeof CODEC_IDS)[number];

/** Where one tensor sits in the payload's byte buffer. */
export interface TensorEntry {
  name: string;
  shape: number[];
  /** Element type of the decoded tensor (the codec decides the bytes on the wire). */
  dtype: 'float32';
  offset: number;
  byteLength: number;
}

/** Codec parameters a job fixes for every worker (see the job spec). */
export interface CodecParams {
  /** topk, topk-packed: fraction of each tensor's entries sent per push; k = ceil(ratio · size). */
  topkRatio: number;
}

export const DEFAULT_TOPK_RATIO = 0.01;

/**
 * What a codec promises about decode(encode(values)) for finite values: entry i
 * decodes to within tolerance[i] of reference[i]. The reference is the value itself,
 * or 0 where a sparse codec does not send the entry; a tolerance of 0 means exact.
 */
export interface ErrorBound {
  reference: Float32Array;
  tolerance: Float64Array;
}

export interface TensorCodec {
  readonly id: CodecId;
  /** True when decode(encode(x)) may differ from x: the worker then keeps the residual. */
  readonly lossy: boolean;
  /** True when a push carries only some entries and decodes to zero elsewhere (top-k). */
  readonly sparse: boolean;
  /**
   * The codec's stated error bound for `values` (finite), as a checkable statement:
   * the every-codec suite holds each codec to it. Allocates; not for the hot path.
   */
  errorBound(values: Float32Array): ErrorBound;
  /**
   * Bytes this codec uses for a tensor of `size` elements: a function of the size
   * alone, so the server can check a payload's layout from the model's shapes.
   * Always a multiple of 4, so every tensor starts 4-aligned within the payload.
   */
  byteLength(size: number): number;
  /** Writes `values` at `offset` of `out` (exactly byteLength(values.length) bytes). */
  write(values: Float32Array, out: Uint8Array, offset: number): void;
  /**
   * Reads the tensor described by `entry` from `bytes` into `out` (length = size),
   * allocating nothing per element. Returns null, or a message when the bytes are not
   * a valid encoding (e.g. a top-k index out of range); `out` is then meaningless.
   */
  readInto(entry: TensorEntry, bytes: Uint8Array, out: Float32Array): string | null;
}

/** Rounds a byte count up to the next multiple of 4 (see TensorCodec.byteLength). */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** A DataView of the entry's bytes: works whatever the alignment of a pooled Node Buffer. */
export function entryView(entry: TensorEntry, bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + entry.offset, entry.byteLength);
}
