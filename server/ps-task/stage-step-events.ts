/**
 * The ps task's events for split jobs (model parallelism on ps tasks,
 * task-stage-holds.ts; in a round mode held for the open round, task-round.ts): a
 * stage's `grads:hold` on `/ps-worker` (ticketed, BUSY beyond the task's push bound like
 * a push), and the chief's `step:close` and
 * `step:drop` on `/ps-control` (fenced). Registered by the two namespaces with one
 * line each, so their files keep one concern.
 */
import type { z } from 'zod';
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsControlEvents, PsPartHeld, PsWorkerEvents } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { signHoldReceipt, signRoundHoldReceipt } from '../cluster/hold-receipts.js';
import { pushSchema, stepCloseSchema } from './schemas.js';
import type { TaskJob } from './task-job.js';
import type { PsTaskState } from './task-state.js';

export const STAGE_WORKER_EVENTS = ['grads:hold'] as const satisfies readonly (keyof PsWorkerEvents)[];
export const STAGE_CONTROL_EVENTS = ['step:close', 'step:drop'] as const satisfies readonly (keyof PsControlEvents)[];

type Ticketed = <S extends z.ZodType, T extends object>(
  event: keyof PsWorkerEvents,
  schema: S,
  handler: (job: TaskJob, req: z.output<S>, worker: string) => Result<T> | Promise<Result<T>>,
) => (...args: unknown[]) => void;

type Fenced = <S extends z.ZodType, T extends object>(
  event: keyof PsControlEvents,
  schema: S,
  jobScoped: boolean,
  handler: (req: z.output<S>) => Result<T> | Promise<Result<T>>,
) => (...args: unknown[]) => void;

interface On {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

function notSplit(jobId: string): Failure {
  return fail(ErrorCode.BAD_REQUEST, `Job ${jobId} is not split into stages on this task`);
}

/** A replica step's close or drop for a job without step holds: not split, or split in a round mode (its parts close with the round). */
function noSteps(job: TaskJob): Failure {
  if (!job.split) return notSplit(job.id);
  return fail(ErrorCode.BAD_REQUEST, `Job ${job.id} trains in rounds: its stage parts close with round:close, not step:close`);
}

/** `grads:hold`: a stage's part, checked and held (a receipt binding the slices held), or refused with nothing held. */
export function attachStageParts(socket: On, ticketed: Ticketed, state: PsTaskState): void {
  socket.on(
    'grads:hold',
    ticketed('grads:hold', pushSchema, (job, part, worker): Result<PsPartHeld> => {
      if (!job.split) return notSplit(part.jobId);
      const bytes = asBytes(part.data).byteLength;
      const busy = state.admission.enter(bytes);
      if (busy) return busy;
      try {
        // Holding changes no parameter, so unlike a push it need not wait for a checkpoint part being written; the close does.
        const r = job.holdPart(worker, part.baseVersion, part.manifest, part.data);
        if (!r.ok) return r;
        const fields = { task: job.task, job: part.jobId, worker, hold: r.hold, slices: r.slices };
        // In a round mode the part is held for the open round, and its receipt says which.
        const receipt = r.round === null ? signHoldReceipt(state.keys, fields) : signRoundHoldReceipt(state.keys, fields);
        return ok({ version: r.version, staleness: r.staleness, hold: r.hold, receipt });
      } finally {
        state.admission.leave(bytes);
      }
    }),
  );
}

/** `step:close` applies a replica step's holds as one update; `step:drop` lets them go. */
export function attachStepControl(socket: On, fenced: Fenced, state: PsTaskState): void {
  socket.on(
    'step:close',
    fenced('step:close', stepCloseSchema, true, async (req): Promise<Result<{ version: number }>> => {
      const job = state.jobs.get(req.jobId);
      if (!job) return fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${req.jobId}`);
      if (!job.stageHolds) return noSteps(job);
      // A close is an apply: it waits for a checkpoint part being written, so the part stays one version.
      while (job.held) await job.held;
      if (state.jobs.get(req.jobId) !== job) return fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${req.jobId}`);
      return job.stageHolds.close(req.holds);
    }),
  );
  socket.on(
    'step:drop',
    fenced('step:drop', stepCloseSchema, true, (req): Result => {
      const job = state.jobs.get(req.jobId);
      if (!job) return fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${req.jobId}`);
      if (!job.stageHolds) return noSteps(job);
      job.stageHolds.drop(req.holds);
      return ok({});
    }),
  );
}
