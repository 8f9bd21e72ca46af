/**
 * Checks a gradient payload against the job's model before anything touches the
 * parameters: codec, tensor names and order, shapes, dtypes, byte lengths, and (while
 * decoding into the arrays it is given) the encoding itself (top-k indices). A bad
 * worker wastes its own time, never the job's. Finiteness and the norm bound are checked
 * on the decoded values (gradient-gate.ts).
 */
import { asBytes, type TensorCodec, type TensorEntry } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';

/** A manifest as it arrives: schema-checked types, but nothing known about its values yet. */
export interface UncheckedManifest {
  codec: string;
  tensors: { name: string; shape: number[]; dtype: string; offset: number; byteLength: number }[];
}

export interface PayloadLimits {
  /** The job's codec, with its parameters (topk's k follows from the job's ratio). */
  codec: TensorCodec;
  maxBytes: number;
}

/**
 * Validates the layout against the model's `tensors` and decodes tensor k into
 * `into[k]`; null when all is well. Values are checked by the caller (norm).
 */
export function decodeGradientInto(
  tensors: readonly TensorSpec[],
  into: readonly Float32Array[],
  manifest: UncheckedManifest,
  data: ArrayBuffer | Uint8Array,
  limits: PayloadLimits,
): Failure | null {
  const bytes = asBytes(data);
  if (bytes.byteLength > limits.maxBytes) {
    return fail(ErrorCode.PAYLOAD_TOO_LARGE, `Payload of ${bytes.byteLength} bytes exceeds the job's cap of ${limits.maxBytes}`);
  }
  const codec = limits.codec;
  if (manifest.codec !== codec.id) {
    return fail(ErrorCode.UNKNOWN_CODEC, `Codec "${manifest.codec}" is not this job's codec "${codec.id}"`);
  }

  const entries = manifest.tensors;
  if (entries.length !== tensors.length) {
    return fail(ErrorCode.TENSOR_MISMATCH, `Push has ${entries.length} tensors, the model has ${tensors.length}`);
  }
  let expectedOffset = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const spec = tensors[i]!;
    if (e.name !== spec.name) {
      return fail(ErrorCode.TENSOR_MISMATCH, `Tensor ${i} is "${e.name}", expected "${spec.name}"`);
    }
    if (!sameShape(e.shape, spec.shape)) {
      return fail(ErrorCode.SHAPE_MISMATCH, `Tensor "${e.name}" has shape [${e.shape}], expected [${spec.shape}]`);
    }
    if (e.dtype !== 'float32') {
      return fail(ErrorCode.DTYPE_MISMATCH, `Tensor "${e.name}" has dtype ${String(e.dtype)}, expected float32`);
    }
    const want = codec.byteLength(sizeOf(spec.shape));
    if (e.byteLength !== want || e.offset !== expectedOffset) {
      return fail(
        ErrorCode.BYTE_LENGTH_MISMATCH,
        `Tensor "${e.name}" is ${e.byteLength} bytes at offset ${e.offset}, expected ${want} at ${expectedOffset}`,
      );
    }
    expectedOffset += want;
  }
  if (bytes.byteLength !== expectedOffset) {
    return fail(ErrorCode.BYTE_LENGTH_MISMATCH, `Buffer is ${bytes.byteLength} bytes, the manifest describes ${expectedOffset}`);
  }
  for (let i = 0; i < entries.length; i++) {
    const bad = codec.readInto(entries[i] as TensorEntry, bytes, into[i]!);
    if (bad) return fail(ErrorCode.BAD_ENCODING, `Tensor "${entries[i]!.name}": ${bad}`);
  }
  return null;
}
