/** Who is connected, on what backend, doing how well: the worker table's source. */
import type { ErrorCode } from '../../shared/errors.js';
import type { AdapterInfo, BackendName, WorkerReport } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';

export interface WorkerRecord {
  id: string;
  socketId: string;
  userAgent: string;
  jobId: string | null;
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

  constructor(private readonly now: () => number = Date.now) {}

  register(socketId: string, userAgent: string): WorkerRecord {
    const at = this.now();
    const w: WorkerRecord = {
      id: `w${this.nextId++}`,
      socketId,
      userAgent,
      jobId: null,
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
