/**
 * CPU time of other processes (the ps tasks a bench started), from /proc/<pid>/stat:
 * user + system time in clock ticks. Linux only; elsewhere null, and the bench says so
 * in its figure rather than guess.
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc counts in these on every architecture it runs on. */
const TICKS_PER_SECOND = 100;

/** Seconds of CPU `pid` has used so far, or null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** The CPU seconds of all of `pids` together, or null when one cannot be read. */
export function totalCpuSeconds(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

/** The machine's CPU time so far, all cores together, in clock ticks: busy and in all. */
export interface MachineCpu {
  busy: number;
  total: number;
}

/**
 * Parses /proc/stat's first line (`cpu  user nice system idle iowait irq softirq steal …`):
 * idle and iowait are the time no core had work; guest time is already in user.
 */
export function parseMachineCpu(procStat: string): MachineCpu | null {
  const line = procStat.split('\n', 1)[0] ?? '';
  const [label, ...rest] = line.trim().split(/\s+/);
  const ticks = rest.slice(0, 8).map(Number);
  if (label !== 'cpu' || ticks.length < 5 || ticks.some((t) => !Number.isFinite(t) || t < 0)) return null;
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/** The machine's CPU time so far, or null off Linux. */
export function machineCpu(): MachineCpu | null {
  try {
    return parseMachineCpu(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The share of all the machine's cores that were busy between two readings: near 1, a
 * bench row measured what this machine's cores allow, whatever the design would do on more.
 */
export function busyShare(before: MachineCpu | null, after: MachineCpu | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (after.busy - before.busy) / (after.total - before.total);
}
