/** The public read-only JSON API. Operator actions are in operator-api.ts. */
import { Router } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';
import type { DatasetRegistry } from '../data/datasets.js';
import { jobDetail } from '../jobs/job-detail.js';
import type { JobRegistry } from '../jobs/job-registry.js';

export function apiRouter(jobs: JobRegistry, datasets: DatasetRegistry): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/jobs', (_req, res) => {
    res.json(jobs.list().map((j) => j.summary()));
  });
  router.get('/jobs/:id', (req, res) => {
    const job = jobs.get(req.params.id);
    if (!job) return void res.status(404).json(fail(ErrorCode.NOT_FOUND, `No job ${req.params.id.slice(0, 60)}`));
    res.json(jobDetail(job));
  });
  router.get('/datasets', (_req, res) => {
    res.json(datasets.list());
  });
  return router;
}
