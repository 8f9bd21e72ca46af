/** Numbers and durations as the volunteer pages show them. */

const integer = new Intl.NumberFormat();

export const formatCount = (n: number): string => integer.format(Math.round(n));

export const formatPercent = (x: number): string => `${(x * 100).toFixed(1)} %`;

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${integer.format(h)} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}
