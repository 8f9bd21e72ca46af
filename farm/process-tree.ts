/**
 * Linux process-tree reading for the farm's tests: which Chromium processes descend
 * from a process, and whether one is still alive. Reads /proc; no dependencies.
 *
 * A process is its PID *and* its start time: PIDs wrap (pid_max is 32768 on many
 * machines) and a busy test run reuses them within seconds, so "is PID 1234 alive" or
 * "kill PID 1234" about a Chromium that exited could hit a vitest fork that now has
 * its number.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  cmdline: string;
  /** Start time in clock ticks after boot (/proc/PID/stat field 22): with the PID, who it is. */
  startTicks: number;
}

function read(pid: number): ProcessInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    return { pid, ppid: Number(fields[1]), cmdline, startTicks: Number(fields[19]) };
  } catch {
    return null; // exited while we looked
  }
}

export function listProcesses(): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => read(Number(d)))
    .filter((p): p is ProcessInfo => p !== null);
}

/** Every process below `root` (children, grandchildren, …). */
export function descendants(root: number, all: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const byParent = new Map<number, ProcessInfo[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** The same process (PID and start time), alive and not a zombie (a zombie has exited; only its parent has not reaped it yet). */
export function isAlive(p: ProcessInfo): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && Number(fields[19]) === p.startTicks;
  } catch {
    return false;
  }
}

/** Signals `p` only while it is still the same process, never a stranger that reused its PID. */
export function signalProcess(p: ProcessInfo, signal: NodeJS.Signals): void {
  if (!isAlive(p)) return;
  try {
    process.kill(p.pid, signal);
  } catch {
    // exited between the check and the signal
  }
}

export const isChromium = (p: ProcessInfo) => /chrom/i.test(p.cmdline.split(' ')[0] ?? '');
export const isRenderer = (p: ProcessInfo) => isChromium(p) && p.cmdline.includes('--type=renderer');
/** A browser's main process: Chromium without a --type (renderers, gpu, zygote have one). */
export const isBrowserMain = (p: ProcessInfo) => isChromium(p) && !p.cmdline.includes('--type=');
