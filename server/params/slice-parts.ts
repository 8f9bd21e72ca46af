/**
 * Reading a ps task's `params:snapshot` answer back into arrays, checked against what
 * the chief placed there: per slice its values, then each optimizer slot
 * (`<slice>:<slot>`), fp32, laid out one after another. A task is the chief's own, but
 * its answer still crosses a network: a manifest that does not match is refused, not
 * decoded into the wrong tensors.
 */
import { asBytes, decodeTensors } from '../../shared/codec.js';
import type { PsSliceSnapshot } from '../../shared/ps-protocol.js';
import type { PlacedSlice } from '../../shared/placement.js';
import { sameShape, type TensorSpec } from '../../shared/tensors.js';

/** One task's part of a job: per slice (its placement order), its values and its slots. */
export interface SlicePart {
  version: number;
  values: Float32Array[];
  /** slots[slice][k]: slot `slotNames[k]` of that slice. */
  slots: Float32Array[][];
}

/** The part `snap` holds of `slices`, or a message saying why it does not fit. */
export function readSlicePart(snap: PsSliceSnapshot, slices: readonly PlacedSlice[], slotNames: readonly string[]): SlicePart | string {
  if (snap.manifest.codec !== 'fp32') return `a snapshot in ${snap.manifest.codec}, not fp32`;
  if (snap.slotNames.length !== slotNames.length || snap.slotNames.some((n, i) => n !== slotNames[i])) return `optimizer slots [${snap.slotNames}], expected [${slotNames}]`;
  const expected: TensorSpec[] = slices.flatMap((s) => [{ name: s.name, shape: s.shape }, ...slotNames.map((n) => ({ name: `${s.name}:${n}`, shape: s.shape }))]);
  const entries = snap.manifest.tensors;
  if (entries.length !== expected.length) return `${entries.length} tensors, expected ${expected.length}`;
  let offset = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = entries[i]!;
    const want = expected[i]!;
    const bytes = want.shape.reduce((a, b) => a * b, 1) * 4;
    if (e.name !== want.name || !sameShape(e.shape, want.shape) || e.offset !== offset || e.byteLength !== bytes) return `tensor ${i} is "${e.name}" [${e.shape}], expected "${want.name}" [${want.shape}]`;
    offset += bytes;
  }
  if (asBytes(snap.data).byteLength !== offset) return `${asBytes(snap.data).byteLength} bytes, expected ${offset}`;
  const arrays = decodeTensors(snap, expected);
  const per = 1 + slotNames.length;
  return {
    version: snap.version,
    values: slices.map((_, i) => arrays[i * per]!),
    slots: slices.map((_, i) => arrays.slice(i * per + 1, (i + 1) * per)),
  };
}
