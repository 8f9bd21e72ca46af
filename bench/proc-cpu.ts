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
