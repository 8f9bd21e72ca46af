/** VolunteerStore on SQLite (better-sqlite3, WAL): its own tables in the coordinator's database file. */
import Database from 'better-sqlite3';
import type { VolunteerProfile } from '../../shared/volunteer-protocol.js';
import type { ContributionDelta, LeaderboardRows, StoredJobContribution, StoredVolunteer, VolunteerStore } from './volunteer-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS volunteers (
  id TEXT PRIMARY KEY,
  display_name TEXT,
  team TEXT,
  examples INTEGER NOT NULL DEFAULT 0,
  compute_ms INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS volunteers_examples ON volunteers(examples DESC);
CREATE TABLE IF NOT EXISTS volunteer_jobs (
  volunteer_id TEXT NOT NULL REFERENCES volunteers(id) ON DELETE CASCADE,
  job_id TEXT NOT NULL,
  job_name TEXT NOT NULL,
  examples INTEGER NOT NULL DEFAULT 0,
  compute_ms INTEGER NOT NULL DEFAULT 0,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (volunteer_id, job_id)
);
`;

interface VolunteerRow {
  id: string;
  display_name: string | null;
  team: string | null;
  examples: number;
  compute_ms: number;
  first_seen: number;
  last_seen: number;
}

export class SqliteVolunteerStore implements VolunteerStore {
  private readonly db: Database.Database;
  private readonly addVolunteer: Database.Statement;
  private readonly addJob: Database.Statement;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.addVolunteer = this.db.prepare(
      `INSERT INTO volunteers (id, examples, compute_ms, first_seen, last_seen) VALUES (@volunteerId, @examples, @computeMs, @at, @at)
       ON CONFLICT(id) DO UPDATE SET examples = examples + excluded.examples, compute_ms = compute_ms + excluded.compute_ms, last_seen = excluded.last_seen`,
    );
    this.addJob = this.db.prepare(
      `INSERT INTO volunteer_jobs (volunteer_id, job_id, job_name, examples, compute_ms, last_seen) VALUES (@volunteerId, @jobId, @jobName, @examples, @computeMs, @at)
       ON CONFLICT(volunteer_id, job_id) DO UPDATE SET job_name = excluded.job_name, examples = examples + excluded.examples,
         compute_ms = compute_ms + excluded.compute_ms, last_seen = excluded.last_seen`,
    );
  }

  addContributions(deltas: readonly ContributionDelta[], at: number): void {
    this.db.transaction(() => {
      for (const d of deltas) {
        this.addVolunteer.run({ ...d, at });
        this.addJob.run({ ...d, at });
      }
    })();
  }

  setProfile(id: string, profile: VolunteerProfile, at: number): void {
    this.db
      .prepare(
        `INSERT INTO volunteers (id, display_name, team, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, team = excluded.team, last_seen = excluded.last_seen`,
      )
      .run(id, profile.displayName, profile.team, at, at);
  }

  get(id: string): StoredVolunteer | null {
    const r = this.db.prepare('SELECT * FROM volunteers WHERE id = ?').get(id) as VolunteerRow | undefined;
    if (!r) return null;
    return { id: r.id, displayName: r.display_name, team: r.team, examples: r.examples, computeMs: r.compute_ms, firstSeen: r.first_seen, lastSeen: r.last_seen };
  }

  jobsOf(id: string, limit: number): StoredJobContribution[] {
    return this.db
      .prepare(
        `SELECT job_id AS jobId, job_name AS jobName, examples, compute_ms AS computeMs, last_seen AS lastSeen
         FROM volunteer_jobs WHERE volunteer_id = ? ORDER BY last_seen DESC, job_id LIMIT ?`,
      )
      .all(id, limit) as StoredJobContribution[];
  }

  leaderboard(limit: number): LeaderboardRows {
    const named = this.db
      .prepare(
        `SELECT display_name AS name, team, examples, compute_ms AS computeMs FROM volunteers
         WHERE examples > 0 AND display_name IS NOT NULL ORDER BY examples DESC, compute_ms DESC, display_name LIMIT ?`,
      )
      .all(limit) as LeaderboardRows['named'];
    const anonymous = this.db
      .prepare(
        `SELECT COUNT(*) AS volunteers, COALESCE(SUM(examples), 0) AS examples, COALESCE(SUM(compute_ms), 0) AS computeMs
         FROM volunteers WHERE examples > 0 AND display_name IS NULL`,
      )
      .get() as LeaderboardRows['anonymous'];
    const teams = this.db
      .prepare(
        `SELECT team, COUNT(*) AS members, SUM(examples) AS examples, SUM(compute_ms) AS computeMs FROM volunteers
         WHERE examples > 0 AND team IS NOT NULL GROUP BY team ORDER BY examples DESC, computeMs DESC, team LIMIT ?`,
      )
      .all(limit) as LeaderboardRows['teams'];
    return { named, anonymous, teams };
  }

  close(): void {
    this.db.close();
  }
}
