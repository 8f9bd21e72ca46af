/**
 * A job's metrics for analysis elsewhere (pandas, a spreadsheet, W&B's import):
 *   GET /api/jobs/:id/metrics.json  {job, evals (each with its confusion matrix), history}
 *   GET /api/jobs/:id/evals.csv     one row per evaluation, with per-class accuracy columns
 *   GET /api/jobs/:id/history.csv   one row per second of training (the dashboard's series)
 * From the job store when the coordinator has one (every point since the job began),
 * else from memory (the last HISTORY_POINTS seconds, the latest confusion matrix).
 * Operator routes, like the model downloads.
 */
import { Router, type Response } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import type { JobDetail, MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { fail } from '../../shared/result.js';
import { classNamesOf } from '../data/dataset.js';
import type { Job } from '../jobs/job.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { JobStore } from '../store/job-store.js';
import { jobFileStem } from './file-names.js';
import { requireOperator } from './require-operator.js';

/** More points than any job records (one a second for 30 years). */
const ALL_POINTS = 1e9;

export interface MetricsExport {
  job: Pick<JobDetail, 'id' | 'name' | 'state' | 'spec' | 'classNames'> & { exportedAt: number };
  evals: EvalRecord[];
  history: MetricPoint[];
}

export function metricsExport(job: Job, store: JobStore | null, now: number): MetricsExport {
  const evals = store ? store.evals(job.id, { confusion: true }) : job.evals.map((e) => (job.confusion?.version === e.version ? { ...e, confusion: job.confusion.matrix } : e));
  const history = store ? store.metrics(job.id, ALL_POINTS) : [...job.metrics.history];
  return {
    job: { id: job.id, name: job.spec.name, state: job.state, spec: job.spec, classNames: classNamesOf(job.dataset), exportedAt: now },
    evals,
    history,
  };
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(header: string[], rows: (string | number | null | undefined)[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function evalsCsv(m: MetricsExport): string {
  const classes = m.job.classNames;
  const header = ['time', 'at_ms', 'version', 'examples_seen', 'accuracy', 'loss', ...classes.map((c) => `accuracy_${c}`)];
  const rows = m.evals.map((e) => [
    new Date(e.at).toISOString(),
    e.at,
    e.version,
    e.examplesSeen,
    e.accuracy,
    e.loss,
    // Per-class accuracy (recall): the diagonal over the class's row; empty where no matrix was kept.
    ...classes.map((_, c) => {
      const row = e.confusion?.[c];
      const total = row?.reduce((a, b) => a + b, 0) ?? 0;
      return row && total > 0 ? row[c]! / total : null;
    }),
  ]);
  return csv(header, rows);
}

export function historyCsv(m: MetricsExport): string {
  const header = ['time', 'at_ms', 'version', 'examples_seen', 'examples_per_second', 'pushes_per_second', 'train_loss', 'bytes_in', 'bytes_out'];
  const rows = m.history.map((p) => [new Date(p.at).toISOString(), p.at, p.version, p.examplesSeen, p.examplesPerSecond, p.pushesPerSecond, p.trainLoss, p.bytesIn, p.bytesOut]);
  return csv(header, rows);
}

export interface MetricsExportDeps {
  token: string;
  jobs: JobRegistry;
  store: JobStore | null;
  now: () => number;
}

export function metricsExportRouter(d: MetricsExportDeps): Router {
  const router = Router();
  const auth = requireOperator(d.token);
  const route = (file: string, send: (res: Response, m: MetricsExport, stem: string) => void) =>
    router.get(`/jobs/:id/${file}`, auth, (req, res) => {
      const job = d.jobs.get(String(req.params.id));
      if (!job) return void res.status(404).json(fail(ErrorCode.NOT_FOUND, `No job ${String(req.params.id).slice(0, 60)}`));
      send(res, metricsExport(job, d.store, d.now()), jobFileStem(job.spec.name, job.id));
    });
  route('metrics.json', (res, m, stem) => void res.attachment(`${stem}-metrics.json`).json(m));
  route('evals.csv', (res, m, stem) => void res.attachment(`${stem}-evals.csv`).type('text/csv; charset=utf-8').send(evalsCsv(m)));
  route('history.csv', (res, m, stem) => void res.attachment(`${stem}-history.csv`).type('text/csv; charset=utf-8').send(historyCsv(m)));
  return router;
}
