/**
 * Which ps tasks the chief can reach, as PsCluster sees them. A task is up until its
 * control socket drops or a request to it times out; then it is down with that reason,
 * and up again only when it answers `task:status` (asked as soon as its socket
 * reconnects, and every `probeMs` while a connected socket still gets no answer: a
 * task that is stopped or stuck keeps its TCP connection). A task its supervisor gave
 * up on stays down. Listeners hear every change; the jobs on that task decide what it
 * means for them (server/jobs/ps-task-recovery.ts).
 */
import type { Clock, Timer } from '../clock.js';

export type TaskChange = { task: number; up: false; reason: string } | { task: number; up: true };

/** Who restarts tasks that exit (local-ps-tasks.ts for `--ps N`). */
export interface TaskSupervisor {
  /** `moved`: task restarted at a new origin; `gone`: it will not be restarted (`reason` says why). Returns the unsubscribe. */
  watch(on: { moved(task: number, url: string): void; gone(task: number, reason: string): void }): () => void;
}

export interface TaskLivenessOptions {
  tasks: number;
  clock: Clock;
  probeMs: number;
  /** Asks the task for its status past the down check; true when it answered. */
  probe(task: number): Promise<boolean>;
  /** Whether the task's control socket is connected now. */
  connected(task: number): boolean;
}

interface TaskState {
  /** Why it is down; null while up. */
  reason: string | null;
  /** Its supervisor gave up on it: it stays down. */
  gone: boolean;
  probing: boolean;
  timer: Timer | null;
}

export class TaskLiveness {
  private readonly states: TaskState[];
  private readonly listeners = new Set<(change: TaskChange) => void>();
  private closed = false;

  constructor(private readonly o: TaskLivenessOptions) {
    this.states = Array.from({ length: o.tasks }, () => ({ reason: null, gone: false, probing: false, timer: null }));
  }

  watch(listener: (change: TaskChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reason(task: number): string | null {
    return this.states[task]?.reason ?? null;
  }

  /** The task cannot be reached: down with `reason` (the first reason stands until it is up again). */
  down(task: number, reason: string): void {
    const s = this.states[task];
    if (!s || this.closed) return;
    if (s.reason === null) {
      s.reason = reason;
      this.emit({ task, up: false, reason });
    }
    // A socket that is still connected will not announce the task's return: ask it.
    if (this.o.connected(task)) this.schedule(task);
  }

  /** Its supervisor will not restart it. */
  gone(task: number, reason: string): void {
    const s = this.states[task];
    if (!s || this.closed) return;
    s.gone = true;
    this.cancel(s);
    const was = s.reason;
    s.reason = reason;
    if (was !== reason) this.emit({ task, up: false, reason });
  }

  /** The task's control socket (re)connected: up once it answers. */
  connected(task: number): void {
    const s = this.states[task];
    if (!s || s.reason === null || s.gone) return;
    this.cancel(s);
    void this.probeNow(task);
  }

  close(): void {
    this.closed = true;
    for (const s of this.states) this.cancel(s);
    this.listeners.clear();
  }

  private async probeNow(task: number): Promise<void> {
    const s = this.states[task]!;
    if (s.probing) return;
    s.probing = true;
    const answered = await this.o.probe(task).catch(() => false);
    s.probing = false;
    if (this.closed || s.gone || s.reason === null) return;
    if (answered) {
      s.reason = null;
      this.emit({ task, up: true });
    } else if (this.o.connected(task)) this.schedule(task);
  }

  private schedule(task: number): void {
    const s = this.states[task]!;
    if (s.timer || s.probing || s.gone) return;
    s.timer = this.o.clock.setTimeout(() => {
      s.timer = null;
      void this.probeNow(task);
    }, this.o.probeMs);
  }

  private cancel(s: TaskState): void {
    if (s.timer) this.o.clock.clear(s.timer);
    s.timer = null;
  }

  private emit(change: TaskChange): void {
    for (const l of [...this.listeners]) l(change);
  }
}
