/**
 * CPU time of the Chromium renderers this test process launched (Linux /proc): a
 * page's dedicated Web Workers run in its renderer process, so this is the tab's
 * computing, without the coordinator's (in this process) or the GPU process's.
 */
import { readFileSync } from 'node:fs';
import { descendants, isRenderer } from '../farm/process-tree.js';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** utime + stime of `pid`, seconds; 0 once it has exited. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is the first, utime the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Summed CPU seconds of every renderer below this process. */
export function rendererCpuSeconds(): number {
  const renderers = descendants(process.pid).filter(isRenderer);
  if (!renderers.length) throw new Error('no Chromium renderer below this process: is the browser launched by it?');
  return renderers.reduce((sum, p) => sum + cpuSeconds(p.pid), 0);
}
