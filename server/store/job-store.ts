/**
 * Where jobs, their states and metric history live across restarts. A small
 * interface with a SQLite implementation; tests and future backends (a shared
 * database for several coordinators) implement the same contract.
 */
import type { JobSpec } from '../../shared/job-spec.js';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord, JobState } from '../../shared/protocol.js';

export interface StoredJob {
  id: string;
  spec: JobSpec;
  topology: object | null;
  state: JobState;
  failure: string | null;
  createdAt: number;
}

export interface JobStore {
  /** The next job number: never handed out twice, not even after its job is deleted or the coordinator restarts. */
  takeJobNumber(): number;
  saveJob(job: StoredJob): void;
  setState(id: string, state: JobState, failure: string | null): void;
  deleteJob(id: string): void;
  listJobs(): StoredJob[];
  /** Stores the record with its confusion matrix, when it has one. */
  addEval(jobId: string, rec: EvalRecord): void;
  /** Oldest first; with each record's confusion matrix only when asked (exports), not for the in-memory history. */
  evals(jobId: string, options?: { confusion?: boolean }): EvalRecord[];
  addMetrics(jobId: string, points: readonly MetricPoint[]): void;
  /** The most recent `limit` points, oldest first. */
  metrics(jobId: string, limit: number): MetricPoint[];
  close(): void;
}
