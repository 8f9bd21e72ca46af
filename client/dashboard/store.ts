/**
 * What the dashboard knows, built from the `/operator` events: every job with its
 * growing series, and every worker. Views subscribe and read; only the live
 * connection and REST answers write.
 */
import type { DashboardState, JobDetail, JobTick, MetricPoint, WorkerView } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';

export type JobInfo = JobTick;

export interface JobEntry {
  info: JobInfo;
  /** Oldest first; capped at MAX_POINTS so a tab left open for days stays light. */
  history: MetricPoint[];
  /** Oldest first, without confusion matrices. */
  evals: EvalRecord[];
  /** The latest evaluation's confusion matrix. */
  confusion: JobDetail['confusion'];
}

/** 6 h of one-second points. */
const MAX_POINTS = 6 * 3600;

export type StoreChange = 'jobs' | 'series' | 'workers' | 'connection';
type Listener = (changes: ReadonlySet<StoreChange>) => void;

export class DashboardStore {
  readonly jobs = new Map<string, JobEntry>();
  workers: WorkerView[] = [];
  /** Server time of the last snapshot: "last seen" is measured against it, not the local clock. */
  serverNow = 0;
  /**
   * False while the live socket is down: what the store holds is then the last known
   * state, and views must say so rather than show "running · 1 worker" as if live.
   */
  live = true;
  /** Local time (ms) the connection was lost; null while live. */
  lostAt: number | null = null;
  private readonly listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** `dashboard:init`: everything is replaced, history included. */
  init(s: { at: number; jobs: JobDetail[]; workers: WorkerView[] }): void {
    this.jobs.clear();
    for (const j of s.jobs) {
      const { history, evals, confusion, ...info } = j;
      this.jobs.set(j.id, { info, history: history.slice(-MAX_POINTS), evals: [...evals], confusion });
    }
    this.workers = s.workers;
    this.serverNow = s.at;
    this.emit(['jobs', 'series', 'workers']);
  }

  /** `dashboard:tick`: fresh state for every job, plus one new point per running job. */
  tick(s: DashboardState & { points: Record<string, MetricPoint> }): void {
    const seen = new Set<string>();
    for (const info of s.jobs) {
      seen.add(info.id);
      const entry = this.jobs.get(info.id);
      if (entry) entry.info = info;
      else this.jobs.set(info.id, { info, history: [], evals: [], confusion: null });
    }
    // A job missing from the tick was deleted.
    for (const id of [...this.jobs.keys()]) if (!seen.has(id)) this.jobs.delete(id);
    for (const [id, point] of Object.entries(s.points)) {
      const entry = this.jobs.get(id);
      if (!entry) continue;
      entry.history.push(point);
      if (entry.history.length > MAX_POINTS) entry.history.splice(0, entry.history.length - MAX_POINTS);
    }
    this.workers = s.workers;
    this.serverNow = s.at;
    this.emit(['jobs', 'series', 'workers']);
  }

  /** The live connection went down (at `at`, local ms) or came back. */
  setLive(live: boolean, at: number): void {
    if (live === this.live) return;
    this.live = live;
    this.lostAt = live ? null : at;
    this.emit(['connection', 'jobs', 'workers']);
  }

  /** `job:eval`. The same record can arrive twice around a reconnect's init: keep one. */
  addEval(jobId: string, record: EvalRecord): void {
    const entry = this.jobs.get(jobId);
    if (!entry) return;
    const last = entry.evals[entry.evals.length - 1];
    if (last && last.at === record.at && last.version === record.version) return;
    const { confusion, ...rec } = record;
    entry.evals.push(rec);
    if (confusion) entry.confusion = { version: rec.version, matrix: confusion };
    this.emit(['series']);
  }

  /**
   * A REST answer (create, start, pause, …) or `job:added`: newer than the last tick, so
   * shown now. Its evaluations and history join what the store already holds: a tick may
   * have placed the job first, with none of them.
   */
  upsertJob(job: JobDetail): void {
    const { history, evals, confusion, ...info } = job;
    const entry = this.jobs.get(job.id);
    if (!entry) {
      this.jobs.set(job.id, { info, history: history.slice(-MAX_POINTS), evals: [...evals], confusion });
      this.emit(['jobs', 'series']);
      return;
    }
    entry.info = info;
    const merged = mergeEvals(entry.evals, evals);
    const grew = merged.length > entry.evals.length;
    entry.evals = merged;
    if (confusion && (!entry.confusion || confusion.version > entry.confusion.version)) entry.confusion = confusion;
    if (entry.history.length === 0 && history.length > 0) entry.history = history.slice(-MAX_POINTS);
    this.emit(grew ? ['jobs', 'series'] : ['jobs']);
  }

  removeJob(id: string): void {
    if (this.jobs.delete(id)) this.emit(['jobs', 'series']);
  }

  private emit(changes: StoreChange[]): void {
    const set = new Set(changes);
    for (const fn of this.listeners) fn(set);
  }
}

/** Both lists' records once each, oldest first; a record is known by its time and version. */
function mergeEvals(held: readonly EvalRecord[], sent: readonly EvalRecord[]): EvalRecord[] {
  const key = (e: EvalRecord): string => `${e.at}/${e.version}`;
  const seen = new Set(held.map(key));
  const extra = sent.filter((e) => !seen.has(key(e)));
  if (extra.length === 0) return [...held];
  return [...held, ...extra].sort((a, b) => a.at - b.at || a.version - b.version);
}
