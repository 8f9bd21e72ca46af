/**
 * The volunteers' public routes (shared/volunteer-protocol.ts), for the volunteer page
 * and the leaderboard. A refusal becomes a VolunteerApiError carrying the server's
 * code and message.
 */
import type { JobCard, Leaderboard, ProjectInfo, VolunteerProfile, VolunteerRecord } from '../../shared/volunteer-protocol.js';

export class VolunteerApiError extends Error {
  constructor(
    readonly status: number,
    /** An ErrorCode from the server, or HTTP_<status> / NETWORK when there was none. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'VolunteerApiError';
  }
}

async function json<T>(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new VolunteerApiError(0, 'NETWORK', 'The coordinator cannot be reached');
  }
  const data = (await res.json().catch(() => null)) as (T & { ok?: boolean; code?: string; message?: string }) | null;
  if (!res.ok || data === null || data.ok === false) {
    throw new VolunteerApiError(res.status, data?.code ?? `HTTP_${res.status}`, data?.message ?? `The coordinator answered ${res.status}`);
  }
  return data;
}

const id = (s: string) => encodeURIComponent(s);

export const volunteerApi = {
  project: () => json<ProjectInfo>('GET', '/api/project'),
  currentJob: () => json<{ job: JobCard | null }>('GET', '/api/current-job'),
  jobCard: (jobId: string) => json<JobCard>('GET', `/api/jobs/${id(jobId)}/card`),
  record: (volunteerId: string) => json<VolunteerRecord>('GET', `/api/volunteers/${id(volunteerId)}`),
  saveProfile: (volunteerId: string, profile: VolunteerProfile) => json<VolunteerRecord>('PUT', `/api/volunteers/${id(volunteerId)}/profile`, profile),
  leaderboard: () => json<Leaderboard>('GET', '/api/leaderboard'),
};
