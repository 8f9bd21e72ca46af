/**
 * Who is connected, on what backend, doing how well: the worker table's source. Which
 * job a worker is on is not kept here but asked of the assignments (jobOf).
 */
import type { ErrorCode } from '../../shared/errors.js';
import type { AdapterInfo, BackendName, WorkerReport } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { WorkerAssignments } from './assignments.js';

export interface WorkerRecord {
  id: string;
  socketId: string;
  userAgent: string;
  backend: BackendName | null;
  adapter: AdapterInfo | null;
  examplesPerSecond: number;
  pushesAccepted: number;
  pushesRejected: Partial<Record<ErrorCode, number>>;
  connectedAt: number;
  lastSeen: number;
}

export class WorkerDirectory {
  private readonly workers = new Map<string, WorkerRecord>();
  private nextId = 1;

  constructor(
    private readonly assignments: Pick<WorkerAssignments, 'jobOf'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The job `id` is on (null: none), as the assignments say. */
  jobOf(id: string): string | null {
    return this.assignments.jobOf(id);
  }

  register(socketId: string, userAgent: string): WorkerRecord {
    const at = this.now();
    const w: WorkerRecord = {
      id: `w${this.nextId++}`,
      socketId,
      userAgent,
      backend: null,
      adapter: null,
      examplesPerSecond: 0,
      pushesAccepted: 0,
      pushesRejected: {},
      connectedAt: at,
      lastSeen: at,
    };
    this.workers.set(w.id, w);
    return w;
  }

  get(id: string): WorkerRecord | undefined {
    return this.workers.get(id);
  }

  list(): WorkerRecord[] {
    return [...this.workers.values()];
  }

  report(id: string, r: WorkerReport): void {
    const w = this.workers.get(id);
    if (!w) return;
    Object.assign(w, { backend: r.backend, adapter: r.adapter, examplesPerSecond: r.examplesPerSecond });
    w.lastSeen = this.now();
  }

  countPush(id: string, r: Result<object>): void {
    const w = this.workers.get(id);
    if (!w) return;
    w.lastSeen = this.now();
    if (r.ok) w.pushesAccepted++;
    else w.pushesRejected[r.code] = (w.pushesRejected[r.code] ?? 0) + 1;
  }

  remove(id: string): void {
    this.workers.delete(id);
  }
}
