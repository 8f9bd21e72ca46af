/**
 * TensorBoard's scalar smoothing: an exponential moving average with weight w in
 * [0, 1) (0: the raw values), debiased so the first points are not pulled towards 0:
 * s_i = (w·m_{i−1} + (1 − w)·x_i) / (1 − w^i). Gaps (null) stay gaps.
 */
export function smooth(values: readonly (number | null | undefined)[], weight: number): (number | null)[] {
  if (!(weight > 0)) return values.map((v) => v ?? null);
  let m = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return null;
    m = weight * m + (1 - weight) * v;
    n++;
    return m / (1 - weight ** n);
  });
}
