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

/** Bytes in decimal units (what phone plans count): 950 B, 12.3 kB, 4.5 MB, 1.20 GB. */
export function formatBytes(bytes: number): string {
  const b = Math.max(0, bytes);
  if (b < 1000) return `${Math.round(b)} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(b < 1e4 ? 1 : 0)} kB`;
  if (b < 1e9) return `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;
  return `${(b / 1e9).toFixed(2)} GB`;
}

/**
 * Sets an element's text only when it differs: writing the same text still replaces
 * the text node and makes the browser lay the page out again, which a page repainting
 * several times a second pays for in the same renderer the training runs in.
 */
export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
