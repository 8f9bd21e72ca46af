/**
 * Notices when the job this tab trains changes under the volunteer: the coordinator
 * moved it (the old job ended or paused), or the job it was given at Start differs from
 * the one the page showed before Start.
 */
import type { EngineStatus } from '../engine/status.js';

export interface JobRef {
  id: string;
  name: string;
}

export class JobWatch {
  private current: JobRef | null = null;

  constructor(private readonly onChange: (from: JobRef | null, to: JobRef | null) => void) {}

  get job(): JobRef | null {
    return this.current;
  }

  observe(s: EngineStatus): void {
    const next = s.jobId ? { id: s.jobId, name: s.jobName ?? s.jobId } : null;
    if (next?.id === this.current?.id) return;
    const from = this.current;
    this.current = next;
    this.onChange(from, next);
  }
}

/** The words for a change, or null when there is nothing to tell. `shownAtStart`: the job on screen when Start was pressed. */
export function jobChangeNotice(from: JobRef | null, to: JobRef | null, shownAtStart: JobRef | null): string | null {
  const at = new Date().toLocaleTimeString();
  if (from && to) return `At ${at} the coordinator moved this tab from “${from.name}” to “${to.name}”.`;
  if (from && !to) return `At ${at} “${from.name}” stopped taking work; this tab waits for the next job.`;
  if (!from && to && shownAtStart && shownAtStart.id !== to.id) {
    return `This tab trains “${to.name}”, not “${shownAtStart.name}” shown before you pressed Start: the coordinator gives each tab the job that needs it most.`;
  }
  return null;
}
