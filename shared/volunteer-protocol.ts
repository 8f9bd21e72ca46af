/**
 * The volunteer's public contract: what the page reads before Start (the project and
 * the current job), a volunteer's lasting contribution, the leaderboard, and the rules
 * for the words a volunteer may choose (display name, team), checked alike by the page
 * and the coordinator.
 *
 * REST (public, JSON; failures `{ok:false, code, message}` with HTTP 4xx):
 *   GET /api/project                  → ProjectInfo
 *   GET /api/current-job              → {job: JobCard | null}  (what a tab starting now would train)
 *   GET /api/jobs/:id/card            → JobCard
 *   GET /api/volunteers/:id           → VolunteerRecord
 *   PUT /api/volunteers/:id/profile   body VolunteerProfile → VolunteerRecord
 *   GET /api/leaderboard              → Leaderboard
 *
 * A volunteer id is untrusted: any client can claim any id. It labels contribution and
 * nothing else; no route grants anything for holding one.
 */
import type { JobState } from './protocol.js';

/** 128 random bits as 32 lowercase hex digits, made by the browser (never derived from the device). */
export const VOLUNTEER_ID_PATTERN = /^[0-9a-f]{32}$/;

export const DISPLAY_NAME_MAX = 32;
export const TEAM_NAME_MAX = 32;

/** Who runs this coordinator, set by its owner (flags or environment). */
export interface ProjectInfo {
  name: string;
  /** The person or organisation running it; null when the owner has not said. */
  operator: string | null;
  /** An email address or an http(s) URL; null when the owner has not given one. */
  contact: string | null;
  /** The owner's words on what they keep and for how long; null when none. */
  privacy: string | null;
}

/** A job as volunteers see it: what they would help train, and how it is going. */
export interface JobCard {
  id: string;
  name: string;
  description: string;
  state: JobState;
  /** Preset name (mlp, cnn) or 'custom'. */
  model: string;
  modelDescription: string;
  parameters: number;
  dataset: string;
  trainExamples: number;
  numClasses: number;
  version: number;
  examplesSeen: number;
  workers: number;
  /** Test accuracy of the latest evaluation, null before the first. */
  accuracy: number | null;
  /** True when the job has finished and its latest evaluation is of its final parameters. */
  final: boolean;
}

/** What a volunteer chose to be shown as; null for each is anonymous / no team. */
export interface VolunteerProfile {
  displayName: string | null;
  team: string | null;
}

export interface JobContribution {
  jobId: string;
  jobName: string;
  examples: number;
  computeSeconds: number;
  /** The job now, or null when the operator has deleted it. */
  job: JobCard | null;
}

export interface VolunteerRecord extends VolunteerProfile {
  id: string;
  /** Examples in gradients the parameter server accepted, over every job and visit. */
  examples: number;
  /** Seconds the coordinator saw this volunteer's tabs training (between accepted pushes). */
  computeSeconds: number;
  firstSeen: number | null;
  lastSeen: number | null;
  /** Most recent first. */
  jobs: JobContribution[];
}

export interface LeaderboardVolunteer {
  name: string;
  team: string | null;
  examples: number;
  computeSeconds: number;
}

export interface LeaderboardTeam {
  team: string;
  members: number;
  examples: number;
  computeSeconds: number;
}

export interface Leaderboard {
  /** Volunteers who chose a display name, most examples first. */
  volunteers: LeaderboardVolunteer[];
  /** Everyone who did not choose a name, added together. */
  anonymous: { volunteers: number; examples: number; computeSeconds: number };
  /** Teams by examples: every member who chose the team counts, named or not. */
  teams: LeaderboardTeam[];
  at: number;
}

/**
 * Letters, marks, digits, punctuation, symbols and plain spaces: no control or
 * formatting characters (bidi overrides, zero-width joiners) that would make a name
 * read differently from what it is. Markup needs no rule here: every page renders
 * these as text.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u;

/** A display name or team as stored: NFC, trimmed, inner spaces collapsed; empty means none. */
export function checkVolunteerText(
  field: 'displayName' | 'team',
  input: unknown,
): { ok: true; value: string | null } | { ok: false; message: string } {
  const label = field === 'displayName' ? 'Display name' : 'Team';
  const max = field === 'displayName' ? DISPLAY_NAME_MAX : TEAM_NAME_MAX;
  if (input === null || input === undefined) return { ok: true, value: null };
  if (typeof input !== 'string') return { ok: false, message: `${label} must be text` };
  const value = input.normalize('NFC').replace(/ +/g, ' ').trim();
  if (value === '') return { ok: true, value: null };
  if (!PRINTABLE.test(value)) return { ok: false, message: `${label} may hold letters, digits, punctuation, symbols and spaces only` };
  const length = [...value].length;
  if (length > max) return { ok: false, message: `${label} is ${length} characters long; at most ${max}` };
  return { ok: true, value };
}
