/**
 * The `/operator` namespace: live state for the dashboard. Connections must present
 * the operator token in the handshake (`auth: { token }`); others are refused with
 * UNAUTHORIZED before any state is sent. Push-only: mutations go through REST.
 */
import type { Namespace } from 'socket.io';
import { ErrorCode } from '../../shared/errors.js';
import type { MetricPoint, OperatorClientToServerEvents, OperatorServerToClientEvents, WorkerView } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { tokenMatches } from '../auth/operator-token.js';
import type { Job } from '../jobs/job.js';
import { jobDetail } from '../jobs/job-detail.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import type { JobStore } from '../store/job-store.js';
import type { WorkerDirectory } from '../worker/worker-directory.js';

export type OperatorNamespace = Namespace<OperatorClientToServerEvents, OperatorServerToClientEvents>;

export interface OperatorDeps {
  token: string;
  jobs: JobRegistry;
  workers: WorkerDirectory;
  store: JobStore | null;
  now: () => number;
}

export function workerViews(jobs: JobRegistry, workers: WorkerDirectory): WorkerView[] {
  const leases = new Map<string, { epoch: number; shardIndex: number }[]>();
  for (const j of jobs.list()) for (const [w, l] of j.ledger.leaseTable()) leases.set(w, l);
  return workers.list().map((w) => {
    const jobId = workers.jobOf(w.id);
    return {
      id: w.id,
      jobId,
      stage: jobId === null ? null : (jobs.get(jobId)?.replicas?.placeOf(w.id) ?? null),
      userAgent: w.userAgent,
      backend: w.backend,
      adapter: w.adapter,
      examplesPerSecond: w.examplesPerSecond,
      pushesAccepted: w.pushesAccepted,
      pushesRejected: { ...w.pushesRejected },
      shards: leases.get(w.id) ?? [],
      connectedAt: w.connectedAt,
      lastSeen: w.lastSeen,
    };
  });
}

export interface OperatorChannel {
  /** Samples every running job, stores the points and sends a tick to dashboards. */
  tick(): void;
  evaluated(job: Job, record: EvalRecord): void;
}

export function attachOperatorNamespace(nsp: OperatorNamespace, d: OperatorDeps): OperatorChannel {
  nsp.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    if (tokenMatches(token, d.token)) return next();
    next(Object.assign(new Error(ErrorCode.UNAUTHORIZED), { data: { code: ErrorCode.UNAUTHORIZED, message: 'The operator token is required' } }));
  });
  // Jobs every connected dashboard holds: each had them in its init or a tick, or was
  // sent `job:added`. A job created between two ticks is in none of those, and an
  // evaluation of it (stopping a draft evaluates it at once) would name a job the
  // dashboard cannot place, so it is announced first.
  const announced = new Set<string>();
  const announce = (job: Job): void => {
    if (announced.has(job.id)) return;
    announced.add(job.id);
    nsp.emit('job:added', jobDetail(job));
  };
  // What an init or a tick lists is every job there is: deleted ones leave the set.
  const listedAll = (jobs: readonly Job[]): void => {
    announced.clear();
    for (const j of jobs) announced.add(j.id);
  };
  nsp.on('connection', (socket) => {
    const jobs = d.jobs.list();
    listedAll(jobs);
    socket.emit('dashboard:init', { at: d.now(), jobs: jobs.map((j) => jobDetail(j)), workers: workerViews(d.jobs, d.workers) });
  });
  return {
    tick() {
      const at = d.now();
      const points: Record<string, MetricPoint> = {};
      for (const job of d.jobs.list()) {
        if (job.state !== 'running') continue;
        const p = job.sampleMetrics(at);
        points[job.id] = p;
        d.store?.addMetrics(job.id, [p]);
      }
      if (nsp.sockets.size === 0) return;
      const listed = d.jobs.list();
      listedAll(listed);
      const jobs = listed.map((j) => {
        const { history: _h, evals: _e, confusion: _c, ...rest } = jobDetail(j, false);
        return rest;
      });
      nsp.emit('dashboard:tick', { at, jobs, workers: workerViews(d.jobs, d.workers), points });
    },
    evaluated(job, record) {
      if (nsp.sockets.size === 0) return;
      announce(job);
      nsp.emit('job:eval', { jobId: job.id, record });
    },
  };
}
