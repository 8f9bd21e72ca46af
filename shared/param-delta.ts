/**
 * Parameter pulls as deltas. A worker that holds version `since` exactly (as pulled)
 * can be sent only the entries that changed since then, instead of every parameter.
 * That pays when updates are sparse — top-k gradients under SGD or Adagrad move only
 * the entries they carry — and never otherwise, so the server sends a delta only when
 * it is smaller than the full fp32 payload.
 *
 * Entries are compared and sent as float32 bit patterns, not as differences: the
 * worker writes the new values over its copy, so the result is bit-identical to the
 * server's parameters (a float difference added back would round).
 *
 * Layout per tensor: n little-endian uint32 indices, strictly ascending, then the n
 * float32 values at those indices: 8·n bytes, n = byteLength / 8. As with top-k,
 * ascending order makes "none repeated, none out of range" one comparison per index.
 */
import { asBytes, type TensorPayload } from './codec.js';
import type { TensorEntry } from './codecs/types.js';

export interface DeltaManifest {
  codec: 'delta';
  /** The version the delta applies to; the result is the snapshot's own version. */
  since: number;
  tensors: TensorEntry[];
}

/** Bytes per changed entry: its index and its new value. */
const ENTRY_BYTES = 8;

/** The bits of a float32 tensor, for exact comparison (-0 ≠ 0, NaN payloads kept). */
function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/**
 * The entries of `current` that differ from `base` (an fp32 payload of the same
 * tensors, see encodeTensors), or null when sending them would not be smaller than
 * sending every parameter. `scratch` holds changed indices and is reused across calls.
 */
export function diffParams(
  base: TensorPayload,
  current: readonly Float32Array[],
  since: number,
  scratch: { indices: Uint32Array },
): { manifest: DeltaManifest; data: Uint8Array } | null {
  const baseBytes = asBytes(base.data);
  const total = current.reduce((n, v) => n + v.length, 0);
  // Worth it only below half the parameters (8 bytes per change against 4 per parameter).
  const limit = Math.floor((total * 4) / ENTRY_BYTES);
  if (scratch.indices.length < limit) scratch.indices = new Uint32Array(limit);
  const indices = scratch.indices;
  const counts: number[] = [];
  let changed = 0;
  for (let t = 0; t < current.length; t++) {
    const entry = base.manifest.tensors[t]!;
    const was = new Uint32Array(baseBytes.buffer, baseBytes.byteOffset + entry.offset, entry.byteLength / 4);
    const now = bits(current[t]!);
    const start = changed;
    for (let i = 0; i < now.length; i++) {
      if (now[i] !== was[i]) {
        if (changed === limit) return null;
        indices[changed++] = i;
      }
    }
    counts.push(changed - start);
  }
  const data = new Uint8Array(changed * ENTRY_BYTES);
  const view = new DataView(data.buffer);
  const tensors: TensorEntry[] = [];
  let offset = 0;
  let next = 0;
  for (let t = 0; t < current.length; t++) {
    const n = counts[t]!;
    const values = bits(current[t]!);
    const { name, shape } = base.manifest.tensors[t]!;
    for (let j = 0; j < n; j++) {
      const i = indices[next + j]!;
      view.setUint32(offset + j * 4, i, true);
      view.setUint32(offset + (n + j) * 4, values[i]!, true);
    }
    tensors.push({ name, shape: [...shape], dtype: 'float32', offset, byteLength: n * ENTRY_BYTES });
    offset += n * ENTRY_BYTES;
    next += n;
  }
  return { manifest: { codec: 'delta', since, tensors }, data };
}

/**
 * Writes a delta's entries over `target` (the parameters at the delta's `since`
 * version, one array per tensor, in the delta's order). Returns null, or what is wrong
 * with the delta; `target` must then be discarded (it may be partly written).
 */
export function applyParamDelta(manifest: DeltaManifest, data: ArrayBuffer | Uint8Array, target: Float32Array[]): string | null {
  if (manifest.tensors.length !== target.length) return `delta has ${manifest.tensors.length} tensors, the model ${target.length}`;
  const bytes = asBytes(data);
  for (let t = 0; t < target.length; t++) {
    const entry = manifest.tensors[t]!;
    const out = bits(target[t]!);
    if (entry.byteLength % ENTRY_BYTES !== 0 || entry.offset < 0 || entry.offset + entry.byteLength > bytes.byteLength) {
      return `delta tensor ${entry.name} does not fit the payload`;
    }
    const n = entry.byteLength / ENTRY_BYTES;
    const view = new DataView(bytes.buffer, bytes.byteOffset + entry.offset, entry.byteLength);
    let prev = -1;
    for (let j = 0; j < n; j++) {
      const i = view.getUint32(j * 4, true);
      if (i >= out.length || i <= prev) return `delta tensor ${entry.name}: index ${i} is out of range or out of order`;
      out[i] = view.getUint32((n + j) * 4, true);
      prev = i;
    }
  }
  return null;
}
