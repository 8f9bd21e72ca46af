/**
 * Where volunteers' lasting contribution lives: examples and compute time per
 * volunteer id and per job, and the display name and team a volunteer chose. A small
 * interface with an in-memory implementation (a coordinator without a data dir, tests)
 * and a SQLite one (sqlite-volunteer-store.ts); one test suite runs over both.
 */
import type { VolunteerProfile } from '../../shared/volunteer-protocol.js';

/** Contribution gathered since the last write, for one volunteer on one job. */
export interface ContributionDelta {
  volunteerId: string;
  jobId: string;
  jobName: string;
  examples: number;
  computeMs: number;
}

export interface StoredVolunteer extends VolunteerProfile {
  id: string;
  examples: number;
  computeMs: number;
  firstSeen: number;
  lastSeen: number;
}

export interface StoredJobContribution {
  jobId: string;
  jobName: string;
  examples: number;
  computeMs: number;
  lastSeen: number;
}

export interface LeaderboardRows {
  /** Volunteers with a display name and some contribution, most examples first. */
  named: { name: string; team: string | null; examples: number; computeMs: number }[];
  /** Everyone with some contribution and no display name. */
  anonymous: { volunteers: number; examples: number; computeMs: number };
  /** Teams of volunteers with some contribution, most examples first. */
  teams: { team: string; members: number; examples: number; computeMs: number }[];
}

export interface VolunteerStore {
  /** Adds one batch of deltas, all or nothing; `at` becomes each volunteer's lastSeen. */
  addContributions(deltas: readonly ContributionDelta[], at: number): void;
  /** Sets a volunteer's display name and team, creating the volunteer if it is new. */
  setProfile(id: string, profile: VolunteerProfile, at: number): void;
  get(id: string): StoredVolunteer | null;
  /** The jobs a volunteer helped, most recent first. */
  jobsOf(id: string, limit: number): StoredJobContribution[];
  /** The top `limit` named volunteers and teams, and the anonymous rest added up. */
  leaderboard(limit: number): LeaderboardRows;
  close(): void;
}

const byExamples = (a: { examples: number; computeMs: number }, b: { examples: number; computeMs: number }) => b.examples - a.examples || b.computeMs - a.computeMs;
/** Code-unit order, as SQLite's default BINARY collation sorts. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Keeps everything in maps: contribution lasts as long as the process. */
export class MemoryVolunteerStore implements VolunteerStore {
  private readonly volunteers = new Map<string, StoredVolunteer>();
  /** volunteer id → job id → contribution */
  private readonly jobs = new Map<string, Map<string, StoredJobContribution>>();

  private volunteer(id: string, at: number): StoredVolunteer {
    let v = this.volunteers.get(id);
    if (!v) {
      v = { id, displayName: null, team: null, examples: 0, computeMs: 0, firstSeen: at, lastSeen: at };
      this.volunteers.set(id, v);
    }
    return v;
  }

  addContributions(deltas: readonly ContributionDelta[], at: number): void {
    for (const d of deltas) {
      const v = this.volunteer(d.volunteerId, at);
      v.examples += d.examples;
      v.computeMs += d.computeMs;
      v.lastSeen = at;
      let perJob = this.jobs.get(d.volunteerId);
      if (!perJob) this.jobs.set(d.volunteerId, (perJob = new Map()));
      const j = perJob.get(d.jobId) ?? { jobId: d.jobId, jobName: d.jobName, examples: 0, computeMs: 0, lastSeen: at };
      Object.assign(j, { jobName: d.jobName, examples: j.examples + d.examples, computeMs: j.computeMs + d.computeMs, lastSeen: at });
      perJob.set(d.jobId, j);
    }
  }

  setProfile(id: string, profile: VolunteerProfile, at: number): void {
    Object.assign(this.volunteer(id, at), { displayName: profile.displayName, team: profile.team, lastSeen: at });
  }

  get(id: string): StoredVolunteer | null {
    const v = this.volunteers.get(id);
    return v ? { ...v } : null;
  }

  jobsOf(id: string, limit: number): StoredJobContribution[] {
    const perJob = [...(this.jobs.get(id)?.values() ?? [])];
    return perJob.sort((a, b) => b.lastSeen - a.lastSeen || (a.jobId < b.jobId ? -1 : 1)).slice(0, limit).map((j) => ({ ...j }));
  }

  leaderboard(limit: number): LeaderboardRows {
    const contributed = [...this.volunteers.values()].filter((v) => v.examples > 0);
    const named = contributed
      .filter((v) => v.displayName !== null)
      .map((v) => ({ name: v.displayName!, team: v.team, examples: v.examples, computeMs: v.computeMs }))
      .sort((a, b) => byExamples(a, b) || compare(a.name, b.name))
      .slice(0, limit);
    const anonymous = { volunteers: 0, examples: 0, computeMs: 0 };
    for (const v of contributed.filter((x) => x.displayName === null)) {
      anonymous.volunteers += 1;
      anonymous.examples += v.examples;
      anonymous.computeMs += v.computeMs;
    }
    const teams = new Map<string, { team: string; members: number; examples: number; computeMs: number }>();
    for (const v of contributed) {
      if (v.team === null) continue;
      const t = teams.get(v.team) ?? { team: v.team, members: 0, examples: 0, computeMs: 0 };
      teams.set(v.team, { team: v.team, members: t.members + 1, examples: t.examples + v.examples, computeMs: t.computeMs + v.computeMs });
    }
    return { named, anonymous, teams: [...teams.values()].sort((a, b) => byExamples(a, b) || compare(a.team, b.team)).slice(0, limit) };
  }

  close(): void {}
}
