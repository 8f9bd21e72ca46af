/**
 * The operator's REST routes: job lifecycle, downloads and dataset uploads. Every
 * route here is behind the operator token; read-only listings stay in api.ts.
 */
import express, { Router, type Response } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { fail, ok, type Failure } from '../../shared/result.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { DatasetFormatError } from '../data/csv-dataset.js';
import type { DatasetRegistry } from '../data/datasets.js';
import type { Job, JobAction } from '../jobs/job.js';
import { jobDetail } from '../jobs/job-detail.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { modelArchive, modelJson, sourceOfJob, weightsBin } from './model-export.js';
import { requireOperator } from './require-operator.js';
import { z } from 'zod';

const createSchema = z.object({ spec: z.unknown().optional(), topology: z.record(z.string(), z.unknown()).optional(), start: z.boolean().optional() }).strict();

function refuse(res: Response, status: number, f: Failure): void {
  res.status(status).json(f);
}

export interface OperatorApiDeps {
  token: string;
  jobs: JobRegistry;
  datasets: DatasetRegistry;
  checkpoints: CheckpointStore | null;
  /** Called after a job is created or deleted (workers may need a new assignment). */
  onJobsChanged: () => void;
}

export function operatorRouter(d: OperatorApiDeps): Router {
  const router = Router();
  const auth = requireOperator(d.token);
  const withJob = (fn: (job: Job, req: express.Request, res: Response) => unknown) => (req: express.Request, res: Response) => {
    const job = d.jobs.get(String(req.params.id));
    if (!job) return refuse(res, 404, fail(ErrorCode.NOT_FOUND, `No job ${String(req.params.id).slice(0, 60)}`));
    return fn(job, req, res);
  };

  router.post('/auth/check', auth, (_req, res) => void res.json({ ok: true }));

  router.post('/jobs', auth, express.json({ limit: '8mb' }), async (req, res) => {
    const body = createSchema.safeParse(req.body ?? {});
    if (!body.success) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, `body: ${body.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`));
    const spec = parseJobSpec(body.data.spec ?? {});
    if (!spec.ok) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, spec.message));
    const created = await d.jobs.create(spec.value, body.data.topology ?? null, body.data.start ?? false);
    if (!created.ok) return refuse(res, 400, created);
    d.onJobsChanged();
    res.status(201).json(ok({ job: jobDetail(created.job) }));
  });

  for (const action of ['start', 'pause', 'resume', 'stop'] as const satisfies readonly JobAction[]) {
    router.post(
      `/jobs/:id/${action}`,
      auth,
      withJob((job, _req, res) => {
        const r = job.control(action);
        if (!r.ok) return refuse(res, 409, r);
        res.json(ok({ job: jobDetail(job) }));
      }),
    );
  }

  router.delete(
    '/jobs/:id',
    auth,
    withJob(async (job, _req, res) => {
      await d.jobs.remove(job.id);
      d.onJobsChanged();
      res.json({ ok: true });
    }),
  );

  const sendModel = withJob((job, _req, res) => void res.json(modelJson(sourceOfJob(job))));
  const sendWeights = withJob((job, _req, res) => void res.type('application/octet-stream').send(weightsBin(sourceOfJob(job))));
  router.get('/jobs/:id/model', auth, sendModel);
  router.get('/jobs/:id/model/model.json', auth, sendModel);
  router.get('/jobs/:id/model/weights.bin', auth, sendWeights);
  router.get('/jobs/:id/weights.bin', auth, sendWeights);
  router.get(
    '/jobs/:id/model.zip',
    auth,
    withJob((job, _req, res) => {
      const archive = modelArchive(sourceOfJob(job), new Date());
      res.attachment(archive.filename).type('application/zip').send(archive.data);
    }),
  );

  router.get(
    '/jobs/:id/checkpoints',
    auth,
    withJob(async (job, _req, res) => void res.json((await d.checkpoints?.list(job.id)) ?? [])),
  );
  router.get(
    '/jobs/:id/checkpoints/:name',
    auth,
    withJob(async (job, req, res) => {
      const path = await d.checkpoints?.path(job.id, String(req.params.name));
      if (!path) return refuse(res, 404, fail(ErrorCode.NOT_FOUND, 'No such checkpoint'));
      res.download(path);
    }),
  );

  router.post('/datasets', auth, express.raw({ type: () => true, limit: '50mb' }), async (req, res) => {
    const name = String(req.query.name ?? '');
    const format = String(req.query.format ?? 'csv');
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, 'The request body must be the dataset file'));
    try {
      const ds = await d.datasets.upload(name, format, req.body);
      res.status(201).json(ok({ dataset: d.datasets.list().find((x) => x.name === ds.name) }));
    } catch (err) {
      if (err instanceof DatasetFormatError) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, err.message));
      throw err;
    }
  });

  return router;
}
