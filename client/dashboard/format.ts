/** Number and time formatting shared by the dashboard's views. */

const integer = new Intl.NumberFormat();
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export const fmtInt = (n: number): string => integer.format(Math.round(n));
export const fmtRate = (n: number): string => oneDecimal.format(n);
export const fmtPercent = (x: number): string => `${(x * 100).toFixed(2)} %`;
/** Axis ticks of a fraction: "75 %", "12.5 %". */
export const fmtPercentTick = (x: number): string => `${+(x * 100).toFixed(1)} %`;

export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? integer.format(v) : v.toFixed(1)} ${units[i]}`;
}

export const fmtTime = (ms: number): string => new Date(ms).toLocaleString();

/** Seconds between two server timestamps; both come from the server, so clock skew does not matter. */
export function fmtAgo(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return `${integer.format(s)} s ago`;
}
