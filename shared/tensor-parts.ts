/**
 * A payload's tensors taken apart and put together by entry, without decoding: a stage
 * of a split model pulls only its own tensors and pushes only its own, and the job
 * joins a replica's stage pushes into one update. Works for every manifest whose
 * entries each own their bytes (every codec's, and deltas').
 */
import { asBytes } from './codec.js';

/** What is read of an entry: where its bytes are (the rest is copied as it is). */
interface Entry {
  name: string;
  shape: number[];
  offset: number;
  byteLength: number;
}

interface Parts<M extends { tensors: Entry[] }> {
  manifest: M;
  data: ArrayBuffer | Uint8Array;
}

/** The entries named by `names` (in the manifest's order), their bytes packed from offset 0. Entries must lie within the data (checked upstream). */
export function selectTensors<M extends { tensors: Entry[] }>(payload: Parts<M>, names: ReadonlySet<string>): { manifest: M; data: Uint8Array } {
  const bytes = asBytes(payload.data);
  const chosen = payload.manifest.tensors.filter((t) => names.has(t.name));
  const data = new Uint8Array(chosen.reduce((n, t) => n + t.byteLength, 0));
  let at = 0;
  const tensors = chosen.map((t) => {
    data.set(bytes.subarray(t.offset, t.offset + t.byteLength), at);
    const entry = { ...t, shape: [...t.shape], offset: at };
    at += t.byteLength;
    return entry;
  });
  return { manifest: { ...payload.manifest, tensors }, data };
}

/** The parts' entries one after another, in the parts' order, as one payload of the first part's manifest kind. */
export function joinTensors<M extends { tensors: Entry[] }>(parts: readonly Parts<M>[]): { manifest: M; data: Uint8Array } {
  if (parts.length === 0) throw new Error('Nothing to join');
  const entries = parts.flatMap((p) => p.manifest.tensors.map((t) => ({ t, bytes: asBytes(p.data).subarray(t.offset, t.offset + t.byteLength) })));
  const data = new Uint8Array(entries.reduce((n, e) => n + e.bytes.byteLength, 0));
  let at = 0;
  const tensors = entries.map(({ t, bytes }) => {
    data.set(bytes, at);
    const entry = { ...t, shape: [...t.shape], offset: at };
    at += bytes.byteLength;
    return entry;
  });
  return { manifest: { ...parts[0]!.manifest, tensors }, data };
}
