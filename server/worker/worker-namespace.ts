/**
 * The `/worker` socket.io namespace: what a training tab may do, and nothing more.
 * Every payload is schema-checked, every ack is a Result, and a handler never throws
 * across the wire.
 */
import type { Namespace, Socket } from 'socket.io';
import type { z } from 'zod';
import { ErrorCode } from '../../shared/errors.js';
import { formatIssues } from '../../shared/job-spec.js';
import type { ClientToServerEvents, ServerToClientEvents, WorkerReport, WorkerSocketData } from '../../shared/protocol.js';
import { fail, type Failure, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { createLogger } from '../logger.js';
import { completeSchema, helloSchema, jobRefSchema, pushSchema, reportSchema } from './schemas.js';
import type { WorkerDirectory } from './worker-directory.js';

const log = createLogger('worker-ns');

export type WorkerNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;
type WorkerSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;
type Ack<T extends object> = (r: Result<T>) => void;

function parse<S extends z.ZodType>(schema: S, payload: unknown): { ok: true; value: z.output<S> } | Failure {
  const r = schema.safeParse(payload);
  return r.success ? { ok: true, value: r.data } : fail(ErrorCode.BAD_REQUEST, formatIssues(r.error.issues));
}

/** Acks with `fallback` when a client forgot to pass a callback, instead of throwing. */
function safeAck<T extends object>(ack: unknown): Ack<T> {
  return typeof ack === 'function' ? (ack as Ack<T>) : () => {};
}

export function attachWorkerNamespace(nsp: WorkerNamespace, jobs: JobRegistry, directory: WorkerDirectory): void {
  nsp.on('connection', (socket: WorkerSocket) => {
    const jobFor = (jobId: string): Job | Failure => {
      if (!socket.data.workerId) return fail(ErrorCode.NOT_REGISTERED, 'Say worker:hello first');
      const job = jobs.get(jobId);
      if (!job || socket.data.jobId !== jobId) return fail(ErrorCode.UNKNOWN_JOB, `Job ${jobId} is not this worker's assignment`);
      return job;
    };

    socket.on('worker:hello', (hello, rawAck) => {
      const ack = safeAck<{ workerId: string; job: ReturnType<Job['assignment']> | null }>(rawAck);
      const p = parse(helloSchema, hello);
      if (!p.ok) return ack(p);
      if (socket.data.workerId) return ack({ ok: true, workerId: socket.data.workerId, job: jobs.get(socket.data.jobId ?? '')?.assignment() ?? null });
      const worker = directory.register(socket.id, p.value.userAgent);
      socket.data.workerId = worker.id;
      const job = jobs.pickFor();
      socket.data.jobId = job?.id ?? null;
      job?.workers.add(worker.id);
      worker.jobId = job?.id ?? null;
      log.info('worker joined', { workerId: worker.id, job: job?.id ?? null });
      ack({ ok: true, workerId: worker.id, job: job?.assignment() ?? null });
    });

    socket.on('worker:report', (report: WorkerReport) => {
      const p = parse(reportSchema, report);
      if (!p.ok || !socket.data.workerId) return;
      directory.report(socket.data.workerId, p.value);
    });

    socket.on('params:pull', (req, rawAck) => {
      const ack = safeAck(rawAck);
      const p = parse(jobRefSchema, req);
      if (!p.ok) return ack(p);
      const job = jobFor(p.value.jobId);
      if ('ok' in job) return ack(job);
      ack(job.pull());
    });

    socket.on('grads:push', (push, rawAck) => {
      const ack = safeAck(rawAck);
      const p = parse(pushSchema, push);
      if (!p.ok) return ack(p);
      const job = jobFor(p.value.jobId);
      if ('ok' in job) return ack(job);
      const r = job.push(socket.data.workerId!, p.value);
      directory.countPush(socket.data.workerId!, r);
      ack(r);
    });

    socket.on('shard:lease', (req, rawAck) => {
      const ack = safeAck(rawAck);
      const p = parse(jobRefSchema, req);
      if (!p.ok) return ack(p);
      const job = jobFor(p.value.jobId);
      if ('ok' in job) return ack(job);
      ack(job.lease(socket.data.workerId!));
    });

    socket.on('shard:complete', (req, rawAck) => {
      const ack = safeAck(rawAck);
      const p = parse(completeSchema, req);
      if (!p.ok) return ack(p);
      const job = jobFor(p.value.jobId);
      if ('ok' in job) return ack(job);
      ack(job.complete(socket.data.workerId!, p.value.leaseId));
    });

    socket.on('disconnect', (reason) => {
      const workerId = socket.data.workerId;
      if (!workerId) return;
      const job = jobs.get(socket.data.jobId ?? '');
      job?.release(workerId);
      directory.remove(workerId);
      log.info('worker left', { workerId, reason });
    });
  });
}

/**
 * Gives every worker matching `needsJob` the job the registry picks now (or null):
 * workers of a job that stopped, or idle workers when a job starts.
 */
export function reassignWorkers(
  nsp: WorkerNamespace,
  jobs: JobRegistry,
  directory: WorkerDirectory,
  needsJob: (jobId: string | null) => boolean,
): void {
  for (const socket of nsp.sockets.values()) {
    const workerId = socket.data.workerId;
    const current = socket.data.jobId ?? null;
    if (!workerId || !needsJob(current)) continue;
    const next = jobs.pickFor();
    if (next?.id === current) continue;
    if (current) jobs.get(current)?.release(workerId);
    socket.data.jobId = next?.id ?? null;
    next?.workers.add(workerId);
    const w = directory.get(workerId);
    if (w) w.jobId = next?.id ?? null;
    socket.emit('job:assign', next?.assignment() ?? null);
  }
}
