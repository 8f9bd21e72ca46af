/** JobStore on SQLite (better-sqlite3, WAL): one file under the data dir. */
import Database from 'better-sqlite3';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord, JobState } from '../../shared/protocol.js';
import type { JobStore, StoredJob } from './job-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  topology TEXT,
  state TEXT NOT NULL,
  failure TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evals (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  examples_seen INTEGER NOT NULL,
  accuracy REAL NOT NULL,
  loss REAL NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS evals_job ON evals(job_id, at);
CREATE TABLE IF NOT EXISTS metrics (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  point TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job_id, at);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
-- A data dir from before the counter starts it past its highest stored job.
INSERT OR IGNORE INTO counters (name, value)
  SELECT 'next_job', COALESCE(MAX(CAST(substr(id, 5) AS INTEGER)), 0) + 1 FROM jobs WHERE id GLOB 'job-[0-9]*';
`;

interface JobRow {
  id: string;
  spec: string;
  topology: string | null;
  state: JobState;
  failure: string | null;
  created_at: number;
}

export class SqliteJobStore implements JobStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    // Stores made before evaluations had confusion matrices: add the column, NULL for their rows.
    const evalColumns = this.db.prepare("SELECT name FROM pragma_table_info('evals')").all() as { name: string }[];
    if (!evalColumns.some((c) => c.name === 'confusion')) this.db.exec('ALTER TABLE evals ADD COLUMN confusion TEXT');
  }

  takeJobNumber(): number {
    const row = this.db.prepare("UPDATE counters SET value = value + 1 WHERE name = 'next_job' RETURNING value - 1 AS taken").get() as { taken: number };
    return row.taken;
  }

  saveJob(job: StoredJob): void {
    this.db
      .prepare(
        `INSERT INTO jobs (id, spec, topology, state, failure, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, topology = excluded.topology, state = excluded.state, failure = excluded.failure`,
      )
      .run(job.id, JSON.stringify(job.spec), job.topology ? JSON.stringify(job.topology) : null, job.state, job.failure, job.createdAt);
  }

  setState(id: string, state: JobState, failure: string | null): void {
    this.db.prepare('UPDATE jobs SET state = ?, failure = ? WHERE id = ?').run(state, failure, id);
  }

  deleteJob(id: string): void {
    this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
  }

  listJobs(): StoredJob[] {
    const rows = this.db.prepare('SELECT * FROM jobs ORDER BY created_at, id').all() as JobRow[];
    return rows.map((r) => ({
      id: r.id,
      spec: JSON.parse(r.spec),
      topology: r.topology ? JSON.parse(r.topology) : null,
      state: r.state,
      failure: r.failure,
      createdAt: r.created_at,
    }));
  }

  addEval(jobId: string, rec: EvalRecord): void {
    this.db
      .prepare('INSERT INTO evals (job_id, version, examples_seen, accuracy, loss, at, confusion) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(jobId, rec.version, rec.examplesSeen, rec.accuracy, rec.loss, rec.at, rec.confusion ? JSON.stringify(rec.confusion) : null);
  }

  evals(jobId: string, options: { confusion?: boolean } = {}): EvalRecord[] {
    if (!options.confusion) {
      return this.db
        .prepare('SELECT version, examples_seen AS examplesSeen, accuracy, loss, at FROM evals WHERE job_id = ? ORDER BY at')
        .all(jobId) as EvalRecord[];
    }
    const rows = this.db
      .prepare('SELECT version, examples_seen AS examplesSeen, accuracy, loss, at, confusion FROM evals WHERE job_id = ? ORDER BY at')
      .all(jobId) as (EvalRecord & { confusion: string | null })[];
    return rows.map(({ confusion, ...rec }) => (confusion ? { ...rec, confusion: JSON.parse(confusion) as number[][] } : rec));
  }

  addMetrics(jobId: string, points: readonly MetricPoint[]): void {
    const insert = this.db.prepare('INSERT INTO metrics (job_id, at, point) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const p of points) insert.run(jobId, p.at, JSON.stringify(p));
    })();
  }

  metrics(jobId: string, limit: number): MetricPoint[] {
    const rows = this.db
      .prepare('SELECT point FROM metrics WHERE job_id = ? ORDER BY at DESC LIMIT ?')
      .all(jobId, limit) as { point: string }[];
    return rows.reverse().map((r) => JSON.parse(r.point) as MetricPoint);
  }

  close(): void {
    this.db.close();
  }
}
