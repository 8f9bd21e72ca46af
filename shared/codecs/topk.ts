/**
 * topk: only the k = ceil(ratio · size) entries of largest magnitude are sent (at
 * least 1 for a non-empty tensor, at most size). Layout: k little-endian uint32
 * indices in strictly ascending order, then the k float32 values at those indices:
 * 8·k bytes. Since k follows from the size and the job's ratio, the server checks the
 * exact byte length from the shape, as for the dense codecs. Ascending order makes
 * "no duplicate, none out of range" a single comparison per index, with no set to
 * allocate. Values are sent exactly, so the residual kept by the worker (error
 * feedback) is exactly the entries not sent.
 */
import { entryView, type ErrorBound, type TensorCodec } from './types.js';

export function topkCount(size: number, ratio: number): number {
  if (size === 0) return 0;
  return Math.min(size, Math.max(1, Math.ceil(ratio * size)));
}

/** |x|, with NaN ranked above everything so a broken gradient is sent (and refused) rather than hidden. */
function magnitude(x: number): number {
  const a = x < 0 ? -x : x;
  return a === a ? a : Infinity;
}

/**
 * The k-th largest of `a[0..n)` (1 ≤ k ≤ n), by quickselect with a median-of-three
 * pivot; reorders `a`. Average O(n).
 */
function kthLargest(a: Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1; // index of the answer in descending order
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[lo]!;
}

/**
 * Calls `take(index, value, n)` for the k entries of largest magnitude, in ascending
 * index order (n counts from 0). Everything above the k-th magnitude is in; ties at
 * it fill the rest in index order. `scratch` is grown to the largest tensor and reused.
 */
export function selectTopk(
  values: Float32Array,
  k: number,
  scratch: { mags: Float32Array },
  take: (index: number, value: number, n: number) => void,
): void {
  const size = values.length;
  if (k === 0) return;
  if (scratch.mags.length < size) scratch.mags = new Float32Array(size);
  const mags = scratch.mags;
  for (let i = 0; i < size; i++) mags[i] = magnitude(values[i]!);
  const threshold = kthLargest(mags, size, k);
  let above = 0;
  for (let i = 0; i < size; i++) if (magnitude(values[i]!) > threshold) above++;
  let ties = k - above;
  let n = 0;
  for (let i = 0; i < size && n < k; i++) {
    const m = magnitude(values[i]!);
    if (m > threshold || (m === threshold && ties-- > 0)) take(i, values[i]!, n++);
  }
}

/**
 * The indices top-k sends, by definition rather than by quickselect: the k entries
 * of largest magnitude, ties going to the lower index. For error bounds; O(n log n).
 */
function largestEntries(values: Float32Array, k: number): number[] {
  const order = [...values.keys()].sort((a, b) => magnitude(values[b]!) - magnitude(values[a]!) || a - b);
  return order.slice(0, k);
}

/** A top-k bound: the kept entries within `tolerance(value)` of themselves, every other entry exactly 0. */
export function sparseBound(values: Float32Array, k: number, tolerance: (value: number) => number): ErrorBound {
  const bound = { reference: new Float32Array(values.length), tolerance: new Float64Array(values.length) };
  for (const i of largestEntries(values, k)) {
    bound.reference[i] = values[i]!;
    bound.tolerance[i] = tolerance(values[i]!);
  }
  return bound;
}

/** Checks that index `index` may follow `prev` in a tensor of `size`: null, or what is wrong. */
export function checkSparseIndex(index: number, prev: number, size: number): string | null {
  if (index >= size) return `top-k index ${index} is out of range for ${size} values`;
  if (index <= prev) return `top-k index ${index} follows ${prev}: indices must be strictly ascending (no duplicates)`;
  return null;
}

export function createTopk(ratio: number): TensorCodec {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`topk ratio must be in (0, 1], got ${ratio}`);
  // Worker-side selection scratch, grown to the largest tensor and reused across pushes.
  const scratch = { mags: new Float32Array(0) };
  return {
    id: 'topk',
    lossy: true,
    sparse: true,
    // Values travel exactly, so the worker's residual (error feedback) is exactly the entries not sent.
    errorBound: (values) => sparseBound(values, topkCount(values.length, ratio), () => 0),
    byteLength: (size) => topkCount(size, ratio) * 8,
    write(values, out, offset) {
      const k = topkCount(values.length, ratio);
      const view = new DataView(out.buffer, out.byteOffset + offset, k * 8);
      selectTopk(values, k, scratch, (index, value, n) => {
        view.setUint32(n * 4, index, true);
        view.setFloat32((k + n) * 4, value, true);
      });
    },
    readInto(entry, bytes, out) {
      const size = out.length;
      const k = topkCount(size, ratio);
      const view = entryView(entry, bytes);
      out.fill(0);
      let prev = -1;
      for (let n = 0; n < k; n++) {
        const index = view.getUint32(n * 4, true);
        const bad = checkSparseIndex(index, prev, size);
        if (bad) return bad;
        out[index] = view.getFloat32((k + n) * 4, true);
        prev = index;
      }
      return null;
    },
  };
}
