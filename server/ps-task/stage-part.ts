/**
 * A stage's part of a split job's gradient on one ps task, checked as a push is: the
 * slices it names (each one of this task's, in its order, none twice), their layout in
 * the job's codec under the payload cap, finite values. Decoded into arrays of its own:
 * a part is held until its step (task-stage-holds.ts) or its round (task-round.ts)
 * closes, over which the store's scratch buffers are reused.
 */
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { payloadCapBytes } from '../params/gradient-gate.js';
import type { ParameterStore } from '../params/parameter-store.js';
import { decodeGradientInto, type UncheckedManifest } from '../params/push-validation.js';

export interface StagePart {
  /** Indices of the slices held, ascending (this task's order). */
  slices: number[];
  values: Float32Array[];
}

/** `manifest` and `data` as a part of this task's slices of `store`, decoded; the refusal otherwise (nothing held). */
export function decodeStagePart(store: ParameterStore, codec: TensorCodec, index: ReadonlyMap<string, number>, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): StagePart | Failure {
  const slices = slicesNamed(index, manifest);
  if ('ok' in slices) return slices;
  const specs: TensorSpec[] = slices.map((i) => store.specs[i]!);
  const values = specs.map((_, k) => new Float32Array(store.tensors[slices[k]!]!.values.length));
  const codecBytes = specs.reduce((n, s, k) => n + codec.byteLength(values[k]!.length), 0);
  const bad = decodeGradientInto(specs, values, manifest, data, { codec, maxBytes: payloadCapBytes(values.reduce((n, v) => n + v.length, 0), codecBytes) });
  if (bad) return bad;
  for (const v of values) for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return fail(ErrorCode.NON_FINITE, 'Gradient contains NaN or Infinity');
  return { slices, values };
}

/** The slices the manifest names: each one of this task's, in its order, none twice. */
function slicesNamed(index: ReadonlyMap<string, number>, manifest: UncheckedManifest): number[] | Failure {
  const slices: number[] = [];
  for (const e of manifest.tensors) {
    const i = index.get(e.name);
    if (i === undefined) return fail(ErrorCode.TENSOR_MISMATCH, `"${e.name.slice(0, 80)}" is not a slice of this job on this task`);
    if (slices.length && i <= slices[slices.length - 1]!) return fail(ErrorCode.TENSOR_MISMATCH, `Slice "${e.name}" is out of this task's order, or named twice`);
    slices.push(i);
  }
  if (!slices.length) return fail(ErrorCode.TENSOR_MISMATCH, 'A stage part holds at least one slice');
  return slices;
}
