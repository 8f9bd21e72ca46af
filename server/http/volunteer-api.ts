/**
 * The volunteers' public routes (shared/volunteer-protocol.ts): the project and the
 * current job before Start, a volunteer's lasting contribution and chosen name, and the
 * leaderboard. A volunteer id is untrusted (anyone can send any id): these routes only
 * read or label contribution, never grant anything, and no route lists ids, so one
 * volunteer cannot learn another's to claim it.
 */
import express, { Router, type Response } from 'express';
import { z } from 'zod';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import {
  VOLUNTEER_ID_PATTERN,
  checkVolunteerText,
  type JobContribution,
  type Leaderboard,
  type ProjectInfo,
  type VolunteerRecord,
} from '../../shared/volunteer-protocol.js';
import type { DatasetRegistry } from '../data/datasets.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { VolunteerStore } from '../store/volunteer-store.js';
import type { ContributionLedger } from '../volunteers/contribution-ledger.js';
import { jobCard } from '../volunteers/job-card.js';

/** Jobs listed in a volunteer's record, and rows in each part of the leaderboard. */
const RECORD_JOBS = 20;
const LEADERBOARD_ROWS = 100;

export interface VolunteerApiDeps {
  project: ProjectInfo;
  jobs: JobRegistry;
  datasets: DatasetRegistry;
  store: VolunteerStore;
  ledger: ContributionLedger;
  now: () => number;
}

const profileSchema = z.object({ displayName: z.string().max(1000).nullable(), team: z.string().max(1000).nullable() }).strict();

function refuse(res: Response, status: number, f: Failure): void {
  res.status(status).json(f);
}

export function volunteerRouter(d: VolunteerApiDeps): Router {
  const router = Router();
  const card = (id: string) => {
    const job = d.jobs.get(id);
    return job ? jobCard(job, d.datasets) : null;
  };
  const record = (id: string): VolunteerRecord => {
    d.ledger.flush(); // what the tab has just seen accepted is in the answer
    const v = d.store.get(id);
    const jobs: JobContribution[] = d.store.jobsOf(id, RECORD_JOBS).map((j) => ({
      jobId: j.jobId,
      jobName: j.jobName,
      examples: j.examples,
      computeSeconds: j.computeMs / 1000,
      job: card(j.jobId),
    }));
    return {
      id,
      displayName: v?.displayName ?? null,
      team: v?.team ?? null,
      examples: v?.examples ?? 0,
      computeSeconds: (v?.computeMs ?? 0) / 1000,
      firstSeen: v?.firstSeen ?? null,
      lastSeen: v?.lastSeen ?? null,
      jobs,
    };
  };
  /** Runs `fn` with a well-formed volunteer id from the path. */
  const withVolunteer = (fn: (id: string, req: express.Request, res: Response) => void) => (req: express.Request, res: Response) => {
    const id = String(req.params.id);
    if (!VOLUNTEER_ID_PATTERN.test(id)) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, 'A volunteer id is 32 lowercase hex digits'));
    fn(id, req, res);
  };

  router.get('/project', (_req, res) => void res.json(d.project));

  router.get('/current-job', (_req, res) => {
    const job = d.jobs.pickFor();
    res.json({ job: job ? jobCard(job, d.datasets) : null });
  });

  router.get('/jobs/:id/card', (req, res) => {
    const c = card(String(req.params.id));
    if (!c) return refuse(res, 404, fail(ErrorCode.NOT_FOUND, `No job ${String(req.params.id).slice(0, 60)}`));
    res.json(c);
  });

  router.get('/volunteers/:id', withVolunteer((id, _req, res) => void res.json(record(id))));

  router.put(
    '/volunteers/:id/profile',
    express.json({ limit: '4kb' }),
    withVolunteer((id, req, res) => {
      const body = profileSchema.safeParse(req.body);
      if (!body.success) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, 'The body must be {"displayName": text or null, "team": text or null}'));
      const name = checkVolunteerText('displayName', body.data.displayName);
      if (!name.ok) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, `displayName: ${name.message}`));
      const team = checkVolunteerText('team', body.data.team);
      if (!team.ok) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, `team: ${team.message}`));
      d.store.setProfile(id, { displayName: name.value, team: team.value }, d.now());
      res.json(record(id));
    }),
  );

  router.get('/leaderboard', (_req, res) => {
    d.ledger.flush();
    const rows = d.store.leaderboard(LEADERBOARD_ROWS);
    const board: Leaderboard = {
      volunteers: rows.named.map((v) => ({ name: v.name, team: v.team, examples: v.examples, computeSeconds: v.computeMs / 1000 })),
      anonymous: { volunteers: rows.anonymous.volunteers, examples: rows.anonymous.examples, computeSeconds: rows.anonymous.computeMs / 1000 },
      teams: rows.teams.map((t) => ({ team: t.team, members: t.members, examples: t.examples, computeSeconds: t.computeMs / 1000 })),
      at: d.now(),
    };
    res.json(board);
  });

  return router;
}
