/** The read-only JSON API. Mutating routes (operator) arrive with authentication. */
import { Router } from 'express';
import type { JobRegistry } from '../jobs/job-registry.js';

export function apiRouter(jobs: JobRegistry): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/jobs', (_req, res) => {
    res.json(jobs.list().map((j) => j.summary()));
  });
  return router;
}
