/**
 * `/ps-control`: the chief's channel to a ps task. Every message proves it comes from
 * the chief at its epoch (server/cluster/chief-fence.ts) before its payload is even
 * parsed: a stranger gets UNAUTHORIZED, a deposed chief STALE_CHIEF, and neither
 * changes anything. Then: create a job's slices, delete them, read them back
 * (export), write or load this task's part of a checkpoint, renew the norm bound's
 * reference, or list what the task holds (a chief re-attaching).
 */
import type { Namespace, Socket } from 'socket.io';
import { z } from 'zod';
import { ErrorCode } from '../../shared/errors.js';
import { formatIssues } from '../../shared/job-spec.js';
import type { PsCheckpointPart, PsControlEvents, PsServerEvents } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import { respond } from '../worker/respond.js';
import { guardSocket } from '../worker/socket-guard.js';
import type { PsTaskState } from './task-state.js';
import { ckptLoadSchema, ckptWriteSchema, jobCreateSchema, jobDeleteSchema, jobForgetSchema, jobReferenceSchema, jobRefSchema, roundCloseSchema, statusSchema } from './schemas.js';
import { TaskJob } from './task-job.js';
import { attachStepControl, STAGE_CONTROL_EVENTS } from './stage-step-events.js';

const log = createLogger('ps-control');

export type PsControlNamespace = Namespace<PsControlEvents, PsServerEvents>;

const CONTROL_EVENTS: ReadonlySet<string> = new Set<keyof PsControlEvents>(['job:create', 'job:delete', 'params:snapshot', 'task:status', 'ckpt:write', 'ckpt:load', 'round:close', 'job:reference', 'job:forget', ...STAGE_CONTROL_EVENTS]);

/**
 * The chief sends few messages; the guard is there for strangers. What a task sends the
 * chief (its slices and their optimizer state, for a checkpoint) may be several of a
 * worker's largest messages at once, so the bound on what is held unread is larger.
 */
const CONTROL_GUARD = { messagesPerSecond: 200, burst: 400, maxUnreadBytes: 1024 * 1024 * 1024 };

export function attachControlNamespace(nsp: PsControlNamespace, state: PsTaskState): void {
  nsp.on('connection', (socket: Socket<PsControlEvents, PsServerEvents>) => {
    const guard = guardSocket(socket, CONTROL_EVENTS, CONTROL_GUARD, state.now);
    /** A handler that runs only for the chief, with the payload parsed by `schema`. */
    const fenced = <S extends z.ZodType, T extends object>(event: keyof PsControlEvents, schema: S, jobScoped: boolean, handler: (req: z.output<S>) => Result<T> | Promise<Result<T>>) =>
      respond(
        event,
        z.unknown(),
        (payload): Result<T> | Promise<Result<T>> => {
          const admitted = admitChief(state, event, payload, jobScoped);
          if (admitted) return admitted;
          const parsed = schema.safeParse(payload);
          if (!parsed.success) return fail(ErrorCode.BAD_REQUEST, formatIssues(parsed.error.issues));
          return handler(parsed.data);
        },
        (code) => guard.refused(code),
      );

    socket.on(
      'job:create',
      fenced('job:create', jobCreateSchema, true, (req) => {
        if (state.jobs.has(req.jobId)) return fail(ErrorCode.CONFLICT, `Job ${req.jobId} already has slices on this task`);
        const job = TaskJob.create(req, state.apply, state.now);
        if ('ok' in job) return job;
        state.jobs.set(req.jobId, job);
        // A job of a deleted one's id (a chief without a store numbers from 1 again): its parts are written again.
        state.parts?.revive(req.jobId);
        log.info('job created', { ...job.status() });
        return ok({ version: job.version });
      }),
    );

    socket.on(
      'job:delete',
      fenced('job:delete', jobDeleteSchema, true, async (req): Promise<Result> => {
        const job = state.jobs.get(req.jobId);
        if (job) {
          state.jobs.delete(req.jobId);
          job.dispose();
          log.info('job deleted', { job: req.jobId, version: job.version });
        }
        // A deleted job's parts go too; a re-creation (no dropParts) keeps them: they are what it restores from.
        if (req.dropParts && state.parts) {
          const dropped = await state.parts.removeJob(req.jobId);
          if (typeof dropped !== 'boolean') return dropped;
          if (dropped) log.info('checkpoint parts of a deleted job removed', { job: req.jobId });
          return ok({});
        }
        return job ? ok({}) : unknownJob(req.jobId);
      }),
    );

    socket.on(
      'params:snapshot',
      fenced('params:snapshot', jobRefSchema, true, (req) => {
        const job = state.jobs.get(req.jobId);
        return job ? ok(job.snapshot()) : unknownJob(req.jobId);
      }),
    );

    socket.on(
      'round:close',
      fenced('round:close', roundCloseSchema, true, async (req): Promise<Result<{ version: number }>> => {
        const job = state.jobs.get(req.jobId);
        if (!job) return unknownJob(req.jobId);
        if (!job.round) return fail(ErrorCode.BAD_REQUEST, `Job ${req.jobId} has no rounds on this task (an async mode)`);
        // A round's apply is a push's: it waits for a checkpoint part being written (the cut stays one version).
        while (job.held) await job.held;
        if (state.jobs.get(req.jobId) !== job) return unknownJob(req.jobId);
        return job.round.close(req.round, req.members);
      }),
    );

    attachStepControl(socket, fenced, state);

    // The chief's trusted refresh: its own gradient's norms on this task's slices anchor the norm bound here.
    socket.on(
      'job:reference',
      fenced('job:reference', jobReferenceSchema, true, (req) => {
        const job = state.jobs.get(req.jobId);
        return job ? job.setReference(req.reference) : unknownJob(req.jobId);
      }),
    );

    // Workers that left the job: their samples no longer shape the bound here (a departed worker's tiny norms would drag the median).
    socket.on(
      'job:forget',
      fenced('job:forget', jobForgetSchema, true, (req): Result => {
        const job = state.jobs.get(req.jobId);
        if (!job) return unknownJob(req.jobId);
        for (const w of req.workers) job.forget(w);
        return ok({});
      }),
    );

    socket.on(
      'task:status',
      fenced('task:status', statusSchema, false, () => ok({ epoch: state.fence.epoch, jobs: [...state.jobs.values()].map((j) => j.status()) })),
    );

    // This task's part of a consistent cut: pushes of the job wait while it is written (docs/cluster.md).
    socket.on(
      'ckpt:write',
      fenced('ckpt:write', ckptWriteSchema, true, async (req): Promise<Result<PsCheckpointPart>> => {
        const job = state.jobs.get(req.jobId);
        if (!job) return unknownJob(req.jobId);
        const parts = state.parts;
        if (!parts) return fail(ErrorCode.CHECKPOINT_WRITE_FAILED, 'This task was started without a data directory: it writes no checkpoint parts');
        try {
          const part = await job.holdPushes((src) => parts.write(src, req.checkpointId, req.keep));
          if ('ok' in part) return part;
          log.info('checkpoint part written', { job: req.jobId, checkpoint: req.checkpointId, version: part.version, bytes: part.bytes });
          return ok(part);
        } catch (err) {
          log.error('checkpoint part not written', { job: req.jobId, checkpoint: req.checkpointId, err });
          return fail(ErrorCode.CHECKPOINT_WRITE_FAILED, `Part ${req.checkpointId} of job ${req.jobId} could not be written on this task`);
        }
      }),
    );

    socket.on(
      'ckpt:load',
      fenced('ckpt:load', ckptLoadSchema, true, async (req): Promise<Result<{ version: number }>> => {
        const job = state.jobs.get(req.jobId);
        if (!job) return unknownJob(req.jobId);
        if (!state.parts) return fail(ErrorCode.CHECKPOINT_PART_MISSING, 'This task was started without a data directory: it holds no checkpoint parts');
        let part: Awaited<ReturnType<typeof state.parts.read>>;
        try {
          part = await state.parts.read(req.jobId, job.task, req.checkpointId, req.sha256);
        } catch (err) {
          log.error('checkpoint part not read', { job: req.jobId, checkpoint: req.checkpointId, err });
          return fail(ErrorCode.CHECKPOINT_PART_CORRUPT, `Part ${req.checkpointId} of job ${req.jobId} could not be read on this task`);
        }
        if ('ok' in part) {
          log.warn('checkpoint part refused', { job: req.jobId, checkpoint: req.checkpointId, code: part.code, reason: part.message });
          return part;
        }
        // The job may have gone, or a part may be being written, while the file was read.
        while (job.held) await job.held;
        if (state.jobs.get(req.jobId) !== job) return unknownJob(req.jobId);
        const loaded = job.load(part, req.baseStep);
        if (loaded.ok) log.info('checkpoint part loaded', { job: req.jobId, checkpoint: req.checkpointId, version: loaded.version });
        return loaded;
      }),
    );
  });
}

function unknownJob(jobId: string): Failure {
  return fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${jobId}`);
}

/** Null when `payload` carries the current (or a newer) chief's credential for `event`; the refusal otherwise. */
function admitChief(state: PsTaskState, event: string, payload: unknown, jobScoped: boolean): Failure | null {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { chief?: { epoch?: unknown; proof?: unknown }; jobId?: unknown };
  const epoch = p.chief?.epoch;
  const proof = p.chief?.proof;
  if (typeof epoch !== 'number' || typeof proof !== 'string') return fail(ErrorCode.UNAUTHORIZED, 'Not a chief credential');
  const jobId = jobScoped ? (typeof p.jobId === 'string' ? p.jobId : '') : null;
  const before = state.fence.epoch;
  const admitted = state.fence.admit({ epoch, proof }, event, jobId);
  if ('ok' in admitted) {
    if (admitted.code === ErrorCode.STALE_CHIEF) log.warn('refused a deposed chief', { event, epoch, current: state.fence.epoch });
    return admitted;
  }
  if (admitted.epoch > before) log.info('chief epoch adopted', { epoch: admitted.epoch, previous: before });
  return null;
}
