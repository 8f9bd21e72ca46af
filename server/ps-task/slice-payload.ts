/**
 * The fp32 payloads a task exchanges with its chief: the initial values of a job's
 * slices (checked against the slices before the task holds anything), and a snapshot
 * of values and optimizer state for checkpoints and export.
 */
import { asBytes, encodeTensors, getCodec, type NamedValues, type TensorEntry } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsSliceSnapshot } from '../../shared/ps-protocol.js';
import { fail, type Failure } from '../../shared/result.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { ParameterStore } from '../params/parameter-store.js';
import type { UncheckedManifest } from '../params/push-validation.js';

const fp32 = getCodec('fp32')!;

/** The values of `slices` from an fp32 payload laid out exactly as they are, all finite; or why not. */
export function decodeSliceValues(slices: readonly TensorSpec[], manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Float32Array[] | Failure {
  if (manifest.codec !== 'fp32') return fail(ErrorCode.UNKNOWN_CODEC, `Initial values are in ${manifest.codec}, not fp32`);
  if (manifest.tensors.length !== slices.length) return fail(ErrorCode.TENSOR_MISMATCH, `${manifest.tensors.length} initial tensors for ${slices.length} slices`);
  let offset = 0;
  for (let i = 0; i < slices.length; i++) {
    const e = manifest.tensors[i]!;
    const s = slices[i]!;
    if (e.name !== s.name) return fail(ErrorCode.TENSOR_MISMATCH, `Initial tensor ${i} is "${e.name}", the slice "${s.name}"`);
    if (!sameShape(e.shape, s.shape)) return fail(ErrorCode.SHAPE_MISMATCH, `Initial "${e.name}" has shape [${e.shape}], the slice [${s.shape}]`);
    if (e.dtype !== 'float32') return fail(ErrorCode.DTYPE_MISMATCH, `Initial "${e.name}" is ${e.dtype}, not float32`);
    const want = sizeOf(s.shape) * 4;
    if (e.offset !== offset || e.byteLength !== want) {
      return fail(ErrorCode.BYTE_LENGTH_MISMATCH, `Initial "${e.name}" is ${e.byteLength} bytes at ${e.offset}, expected ${want} at ${offset}`);
    }
    offset += want;
  }
  const bytes = asBytes(data);
  if (bytes.byteLength !== offset) return fail(ErrorCode.BYTE_LENGTH_MISMATCH, `Buffer is ${bytes.byteLength} bytes, the slices need ${offset}`);
  const values: Float32Array[] = [];
  for (let i = 0; i < slices.length; i++) {
    const out = new Float32Array(sizeOf(slices[i]!.shape));
    fp32.readInto(manifest.tensors[i] as TensorEntry, bytes, out);
    if (!out.every(Number.isFinite)) return fail(ErrorCode.NON_FINITE, `Initial "${slices[i]!.name}" contains NaN or Infinity`);
    values.push(out);
  }
  return values;
}

/** Values and optimizer state of `store`, fp32: per slice its values, then each slot as `<slice>:<slot>`. */
export function encodeSnapshot(jobId: string, store: ParameterStore): PsSliceSnapshot {
  const snap = store.snapshot();
  const slotNames = [...store.optimizer.slotNames];
  const tensors: NamedValues[] = store.tensors.flatMap((t, i) => {
    const s = snap.tensors[i]!;
    return [{ name: t.spec.name, shape: t.spec.shape, values: s.values }, ...s.slots.map((slot, k) => ({ name: `${t.spec.name}:${slotNames[k]}`, shape: t.spec.shape, values: slot }))];
  });
  const { manifest, data } = encodeTensors(tensors, fp32);
  return { jobId, version: snap.version, applies: snap.applies, slotNames, manifest, data };
}
