/**
 * Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries"; the
 * averaging variant of El Mhamdi et al. 2018): of a round's n gradients, keep the
 * n − f whose summed squared distance to their n − f − 2 nearest neighbours is
 * smallest, and average those.
 *
 * Why whole gradients rather than coordinates: a sign-flipped gradient has an honest
 * norm and, coordinate by coordinate, mostly honest-looking values (mini-batch noise
 * dwarfs the mean gradient in most coordinates), so the median and the trimmed mean
 * only half-ignore it. Summed over the whole vector its distance to the honest ones is
 * larger by 4‖mean gradient‖², which Krum's score sees; a scaled gradient is far from
 * everything. Cost: n(n − 1)/2 distances over the model per round.
 */

/** Scratch for one round size, reused by every round of that size or smaller. */
export interface KrumScratch {
  /** distances[i * slots + j]: squared distance between gradients i and j. */
  distances: Float64Array;
  scores: Float64Array;
  /** One row of distances, sorted to sum the nearest. */
  row: Float64Array;
  slots: number;
}

export function createKrumScratch(slots: number): KrumScratch {
  return {
    distances: new Float64Array(slots * slots),
    scores: new Float64Array(slots),
    row: new Float64Array(slots),
    slots,
  };
}

/**
 * How many gradients a round of n drops for an assumed Byzantine fraction: f =
 * floor(fraction · n), at most what Krum's score can tolerate (n > 2f + 2); rounds of
 * 4 or fewer drop none.
 */
export function krumDropCount(n: number, fraction: number): number {
  return Math.max(0, Math.min(Math.floor(fraction * n), Math.ceil((n - 2) / 2) - 1));
}

/**
 * Marks in `kept[0..n)` the n − f gradients Multi-Krum keeps. `byTensor[t][k]` is
 * gradient k's tensor t, as the round holds them.
 */
export function multiKrumSelect(byTensor: readonly (readonly Float32Array[])[], n: number, f: number, s: KrumScratch, kept: Uint8Array): void {
  if (n > s.slots || n > kept.length) throw new Error(`multiKrumSelect: scratch for ${s.slots} gradients, the round has ${n}`);
  kept.fill(0, 0, n);
  if (f === 0) {
    kept.fill(1, 0, n);
    return;
  }
  const { distances, scores, row, slots } = s;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      for (const tensor of byTensor) {
        const a = tensor[i]!;
        const b = tensor[j]!;
        for (let e = 0; e < a.length; e++) {
          const diff = a[e]! - b[e]!;
          d += diff * diff;
        }
      }
      distances[i * slots + j] = d;
      distances[j * slots + i] = d;
    }
  }
  const neighbours = Math.max(1, n - f - 2);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < n; j++) if (j !== i) row[m++] = distances[i * slots + j]!;
    const nearest = row.subarray(0, m).sort();
    let score = 0;
    for (let k = 0; k < neighbours; k++) score += nearest[k]!;
    scores[i] = score;
  }
  const ranked = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
  for (let k = 0; k < n - f; k++) kept[ranked[k]!] = 1;
}
