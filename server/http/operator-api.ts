/**
 * The operator's REST routes: job lifecycle, downloads and dataset uploads. Every
 * route here is behind the operator token; read-only listings stay in api.ts.
 */
import express, { Router, type Response } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { fail, ok, type Failure } from '../../shared/result.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { presetCapacityRefusal } from '../cluster/preset-capacity.js';
import { CSV_LIMITS } from '../data/csv-dataset.js';
import { DatasetConflictError, DatasetFormatError } from '../data/dataset-errors.js';
import type { DatasetRegistry } from '../data/datasets.js';
import type { ShardStore } from '../data/shard-store.js';
import type { Job, JobAction } from '../jobs/job.js';
import { jobDetail } from '../jobs/job-detail.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { fileBody, jsonBody } from './body.js';
import { requestChunks } from './upload-stream.js';
import { httpStatusOf } from './errors.js';
import { modelArchive, modelJson, sourceOfJob, weightsBin } from './model-export.js';
import { requireOperator } from './require-operator.js';
import { z } from 'zod';

/** `spec` is required: `{"spec": {}}` asks for every default, a body without it is a mistake (a spec's fields at the top, say). */
const createSchema = z.object({ spec: z.record(z.string(), z.unknown()), topology: z.record(z.string(), z.unknown()).optional(), start: z.boolean().optional() }).strict();

/** Largest POST /api/jobs body: a spec and a topology (itself bounded tighter, see server/jobs/topology/). */
const JOB_BODY_LIMIT = '4mb';

function refuse(res: Response, status: number, f: Failure): void {
  res.status(status).json(f);
}

function bodyIssues(body: unknown, issues: readonly z.core.$ZodIssue[]): string {
  if (body && typeof body === 'object' && !Array.isArray(body) && !('spec' in body)) return 'body: "spec" is required (send {"spec": {}} for a job with every default)';
  return `body: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
}

export interface OperatorApiDeps {
  token: string;
  jobs: JobRegistry;
  datasets: DatasetRegistry;
  checkpoints: CheckpointStore | null;
  /** Where the shards of datasets are cached: a deleted dataset's are dropped. */
  shards: ShardStore;
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

  router.post('/jobs', auth, ...jsonBody(JOB_BODY_LIMIT), async (req, res) => {
    const body = createSchema.safeParse(req.body);
    if (!body.success) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, bodyIssues(req.body, body.error.issues)));
    const spec = parseJobSpec(body.data.spec);
    if (!spec.ok) return refuse(res, 400, fail(ErrorCode.BAD_REQUEST, spec.message));
    const beyond = presetCapacityRefusal(spec.value, d.datasets, d.jobs.psTasks);
    if (beyond) return refuse(res, httpStatusOf(beyond.code), beyond);
    const created = await d.jobs.create(spec.value, body.data.topology ?? null, body.data.start ?? false);
    if (!created.ok) return refuse(res, httpStatusOf(created.code), created);
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

  const sendModel = withJob(async (job, _req, res) => void res.json(modelJson(await sourceOfJob(job))));
  const sendWeights = withJob(async (job, _req, res) => void res.type('application/octet-stream').send(weightsBin(await sourceOfJob(job))));
  router.get('/jobs/:id/model', auth, sendModel);
  router.get('/jobs/:id/model/model.json', auth, sendModel);
  router.get('/jobs/:id/model/weights.bin', auth, sendWeights);
  router.get('/jobs/:id/weights.bin', auth, sendWeights);
  router.get(
    '/jobs/:id/model.zip',
    auth,
    withJob(async (job, _req, res) => {
      const archive = modelArchive(await sourceOfJob(job), new Date());
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

  const datasetRefusal = (res: Response, err: unknown) => {
    if (err instanceof DatasetFormatError || err instanceof DatasetConflictError) return refuse(res, httpStatusOf(err.code), fail(err.code, err.message));
    throw err;
  };

  router.post('/datasets', auth, fileBody, async (req, res) => {
    const name = String(req.query.name ?? '');
    const format = String(req.query.format ?? 'csv');
    try {
      const ds = await d.datasets.upload(name, format, requestChunks(req, CSV_LIMITS.maxBytes));
      res.status(201).json(ok({ dataset: d.datasets.list().find((x) => x.name === ds.name) }));
    } catch (err) {
      datasetRefusal(res, err);
    }
  });

  // Jobs rebuild from their dataset at every restart, finished ones too: a dataset any job uses stays.
  router.delete('/datasets/:name', auth, async (req, res) => {
    const name = String(req.params.name);
    const users = d.jobs.list().filter((j) => j.spec.dataset === name);
    if (users.length > 0) {
      const ids = users.map((j) => j.id);
      return refuse(res, 409, fail(ErrorCode.CONFLICT, `Dataset "${name}" is used by ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''}; delete those jobs first`));
    }
    try {
      const removed = await d.datasets.remove(name);
      if (!removed) return refuse(res, 404, fail(ErrorCode.NOT_FOUND, `No uploaded dataset named "${name.slice(0, 60)}"`));
      d.shards.forget(name);
      res.json({ ok: true });
    } catch (err) {
      datasetRefusal(res, err);
    }
  });

  return router;
}
