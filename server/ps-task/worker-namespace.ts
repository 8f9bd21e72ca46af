/**
 * `/ps-worker`: workers pull and push the slices of their job that this task holds.
 * Every message carries the chief's ticket for that worker, that job and this task
 * (server/cluster/tickets.ts), checked before the payload is parsed: without a valid
 * one the answer is UNAUTHORIZED and nothing changes. The task trusts the chief's
 * assignment and nothing of the worker's own say.
 */
import type { Namespace, Socket } from 'socket.io';
import { z } from 'zod';
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { formatIssues } from '../../shared/job-spec.js';
import type { PsServerEvents, PsWorkerEvents } from '../../shared/ps-protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import { signReceipt, signRoundReceipt } from '../cluster/push-receipts.js';
import { verifyTicket } from '../cluster/tickets.js';
import { SocketSlots } from '../params/socket-slots.js';
import { respond } from '../worker/respond.js';
import { guardSocket, type SocketGuardOptions } from '../worker/socket-guard.js';
import { pullSchema, pushSchema, slotSchema } from './schemas.js';
import { attachStageParts, STAGE_WORKER_EVENTS } from './stage-step-events.js';
import type { TaskJob } from './task-job.js';
import type { PsTaskState } from './task-state.js';

export type PsWorkerNamespace = Namespace<PsWorkerEvents, PsServerEvents>;

const WORKER_EVENTS: ReadonlySet<string> = new Set<keyof PsWorkerEvents>(['params:pull', 'grads:push', 'grads:slot', ...STAGE_WORKER_EVENTS]);

export function attachPsWorkerNamespace(nsp: PsWorkerNamespace, state: PsTaskState, guardOptions: SocketGuardOptions = {}): void {
  nsp.on('connection', (socket: Socket<PsWorkerEvents, PsServerEvents>) => {
    const guard = guardSocket(socket, WORKER_EVENTS, guardOptions, state.now);
    // Push slots as on the coordinator: under load a payload comes only with this task's grant.
    const slots = new SocketSlots(state.slots, socket.id);
    socket.on('disconnect', () => slots.release());
    /** A handler that runs only with a ticket for this job on this task, with the payload parsed by `schema`. */
    const ticketed = <S extends z.ZodType, T extends object>(event: keyof PsWorkerEvents, schema: S, handler: (job: TaskJob, req: z.output<S>, worker: string) => Result<T> | Promise<Result<T>>) =>
      respond(
        event,
        z.unknown(),
        (payload): Result<T> | Promise<Result<T>> => {
          const p = (typeof payload === 'object' && payload !== null ? payload : {}) as { ticket?: unknown; jobId?: unknown };
          const jobId = typeof p.jobId === 'string' ? p.jobId : '';
          const job = state.jobs.get(jobId);
          // Without the job here, any task's ticket for it still proves the worker was assigned it: it may learn the job is gone.
          const grant = verifyTicket(state.keys, p.ticket, { job: jobId, task: job?.task }, state.now());
          if ('ok' in grant) return grant;
          if (!job) return fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${jobId}`);
          const parsed = schema.safeParse(payload);
          if (!parsed.success) return fail(ErrorCode.BAD_REQUEST, formatIssues(parsed.error.issues));
          return handler(job, parsed.data, grant.worker);
        },
        (code) => guard.refused(code),
      );

    socket.on('params:pull', ticketed('params:pull', pullSchema, (job, req) => job.pull(req.have, req.slices)));
    attachStageParts(socket, ticketed, state);
    socket.on(
      'grads:push',
      ticketed('grads:push', pushSchema, (job, push, worker) => {
        const bytes = asBytes(push.data).byteLength;
        if (slots.admit(push.jobId, bytes, push.slot) === 'refused') {
          // A told worker's payload without a grant: BUSY before anything changes, and a strike.
          guard.strike('a push without the slot it was told to ask for');
          return slots.refusal();
        }
        // As the coordinator's: BUSY beyond the task's bound, before anything changes.
        const busy = state.admission.enter(bytes);
        if (busy) return slots.word(busy, bytes);
        const apply = () => {
          const r = job.push(worker, push.baseVersion, push.manifest, push.data);
          if (!r.ok) return r;
          // The worker shows the chief this receipt to be credited: only this task can make it. In a round mode it says the push is held for round `version`.
          const who = { task: job.task, job: push.jobId, worker };
          return slots.word(ok({ ...r, receipt: job.round ? signRoundReceipt(state.keys, { ...who, round: r.version }) : signReceipt(state.keys, { ...who, version: r.version }) }), bytes);
        };
        if (!job.held) {
          try {
            return apply();
          } finally {
            state.admission.leave(bytes);
          }
        }
        // This job's checkpoint part is being written: the push waits (still counted by the
        // admission bound) rather than being answered BUSY, which the worker would turn into a
        // refusal of its whole push while other tasks applied their slices (docs/cluster.md).
        return (async () => {
          try {
            while (job.held) await job.held;
            return state.jobs.get(push.jobId) === job ? apply() : fail(ErrorCode.UNKNOWN_JOB, `This task holds no slices of job ${push.jobId}`);
          } finally {
            state.admission.leave(bytes);
          }
        })();
      }),
    );
    socket.on('grads:slot', ticketed('grads:slot', slotSchema, (_job, req) => slots.grant(req.jobId, req.bytes)));
  });
}
