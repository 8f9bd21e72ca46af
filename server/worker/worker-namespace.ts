/**
 * The `/worker` socket.io namespace: what a training tab may do, and nothing more.
 * Every payload is schema-checked, every ack is a Result, and a handler never throws
 * across the wire.
 */
import type { Namespace, Socket } from 'socket.io';
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { ClientToServerEvents, PushAccepted, ServerToClientEvents, WorkerSocketData } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { JobRegistry } from '../jobs/job-registry.js';
import { createLogger } from '../logger.js';
import { respond } from './respond.js';
import { guardSocket, type SocketGuardOptions } from './socket-guard.js';
import { completeSchema, helloSchema, jobRefSchema, peerCandidateSchema, peerDescriptionSchema, pullSchema, pushSchema, relaySchema, replicaReportSchema, reportSchema, slotSchema } from './schemas.js';
import { forwardSignal, type PeerEvent } from './peer-signalling.js';
import { relayFrame } from './relay.js';
import type { WorkerAssignments } from './assignments.js';
import type { WorkerDirectory } from './worker-directory.js';
import type { ContributionLedger } from '../volunteers/contribution-ledger.js';
import type { PushSlots } from '../params/push-slots.js';
import { SocketSlots } from '../params/socket-slots.js';

const log = createLogger('worker-ns');

export type WorkerNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;
type WorkerSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;

/** Every event a worker may send: an event added to ClientToServerEvents does not compile until it is listed here. */
const EVENTS = {
  'worker:hello': true,
  'worker:report': true,
  'params:pull': true,
  'grads:push': true,
  'grads:slot': true,
  'shard:lease': true,
  'shard:complete': true,
  'relay:frame': true,
  'replica:report': true,
  'peer:offer': true,
  'peer:answer': true,
  'peer:ice': true,
} as const satisfies Record<keyof ClientToServerEvents, true>;
export const WORKER_EVENTS = Object.keys(EVENTS) as (keyof ClientToServerEvents)[];
const KNOWN_EVENTS: ReadonlySet<string> = new Set(WORKER_EVENTS);

/** `now` is the coordinator's clock, which the rate limit reads. */
export function attachWorkerNamespace(
  nsp: WorkerNamespace,
  jobs: JobRegistry,
  directory: WorkerDirectory,
  assignments: WorkerAssignments,
  now: () => number,
  guardOptions: SocketGuardOptions = {},
  /** Adds up accepted work per volunteer id. Default: none (work counts for the job only). */
  volunteers: ContributionLedger | null = null,
  /** Push slots under load (server/params/push-slots.ts). Default: none, pushes are never asked to wait for one. */
  slots: PushSlots | null = null,
): void {
  nsp.on('connection', (socket: WorkerSocket) => {
    const guard = guardSocket(socket, KNOWN_EVENTS, guardOptions, now);
    const refused = (code: string) => guard.refused(code);
    /** This socket's side of the push slots: told or not, its grants (the same as a ps task's sockets). */
    const socketSlots = slots ? new SocketSlots(slots, socket.id) : null;
    /** Runs `fn` with the job if this registered worker is assigned to it. */
    const withJob = <R,>(jobId: string, fn: (job: Job, workerId: string) => R): R | Failure => {
      const workerId = socket.data.workerId;
      if (!workerId) return fail(ErrorCode.NOT_REGISTERED, 'Say worker:hello first');
      const job = jobs.get(jobId);
      if (!job || assignments.jobOf(workerId) !== jobId) return fail(ErrorCode.UNKNOWN_JOB, `Job ${jobId} is not this worker's assignment`);
      return fn(job, workerId);
    };

    socket.on(
      'worker:hello',
      respond('worker:hello', helloSchema, (hello) => {
        const known = socket.data.workerId;
        if (known) return ok({ workerId: known, job: jobs.get(assignments.jobOf(known) ?? '')?.assignment(known) ?? null });
        const worker = directory.register(socket.id, hello.userAgent);
        const job = jobs.pickFor();
        socket.data.workerId = worker.id;
        assignments.assign(worker.id, job?.id ?? null);
        volunteers?.join(worker.id, hello.volunteerId);
        log.info('worker joined', { workerId: worker.id, job: job?.id ?? null, forcedBackend: hello.forcedBackend ?? null });
        // After this answer has gone out: a replica it completes is announced by a job:assign the worker must read after its hello.
        if (job) queueMicrotask(() => job.join(worker.id));
        return ok({ workerId: worker.id, job: job?.assignment(worker.id) ?? null });
      }, refused),
    );

    // Workers send reports without a callback; one that sends a callback gets an answer too.
    socket.on(
      'worker:report',
      respond('worker:report', reportSchema, (report) => {
        const workerId = socket.data.workerId;
        if (!workerId) return ok({});
        directory.report(workerId, report);
        // The claimed rate sets the worker's lease deadlines: a claim it does not live up to costs it the lease.
        jobs.get(assignments.jobOf(workerId) ?? '')?.reported(workerId, report.examplesPerSecond);
        if (report.examplesPerSecond === 0) volunteers?.idle(workerId);
        return ok({});
      }, refused),
    );

    socket.on('params:pull', respond('params:pull', pullSchema, (req) => withJob(req.jobId, (job) => job.pull(req.have, req.tensors)), refused));

    socket.on(
      'relay:frame',
      respond('relay:frame', relaySchema, (msg) => {
        const workerId = socket.data.workerId;
        if (!workerId) return fail(ErrorCode.NOT_REGISTERED, 'Say worker:hello first');
        return relayFrame(nsp, jobs.get(assignments.jobOf(workerId) ?? '') ?? null, directory, workerId, msg);
      }, refused),
    );

    const signal = (event: PeerEvent, schema: typeof peerDescriptionSchema | typeof peerCandidateSchema) =>
      respond(event, schema, (msg) => {
        const workerId = socket.data.workerId;
        if (!workerId) return fail(ErrorCode.NOT_REGISTERED, 'Say worker:hello first');
        return forwardSignal(nsp, jobs.get(assignments.jobOf(workerId) ?? '') ?? null, directory, workerId, event, msg);
      }, refused);
    socket.on('peer:offer', signal('peer:offer', peerDescriptionSchema));
    socket.on('peer:answer', signal('peer:answer', peerDescriptionSchema));
    socket.on('peer:ice', signal('peer:ice', peerCandidateSchema));

    socket.on(
      'replica:report',
      respond('replica:report', replicaReportSchema, (report) => {
        const workerId = socket.data.workerId;
        if (!workerId) return fail(ErrorCode.NOT_REGISTERED, 'Say worker:hello first');
        const job = jobs.get(assignments.jobOf(workerId) ?? '');
        if (!job) return fail(ErrorCode.UNKNOWN_REPLICA, `Replica ${report.replicaId} is not this worker's (it has no job)`);
        return job.replicaReport(workerId, report);
      }, refused),
    );

    socket.on(
      'grads:push',
      respond('grads:push', pushSchema, (push) =>
        withJob(push.jobId, (job, workerId) => {
          const bytes = asBytes(push.data).byteLength;
          if (socketSlots?.admit(push.jobId, bytes, push.slot) === 'refused') {
            // Before the job sees it: no lease or parameter is touched, and the same push with a grant is as good as new.
            guard.strike('a push without the slot it was told to ask for');
            const busy = job.refusedPush(socketSlots.refusal());
            directory.countPush(workerId, busy);
            return busy;
          }
          const r = job.push(workerId, push);
          const settle = (settled: Result<PushAccepted>) => {
            directory.countPush(workerId, settled);
            const answer = socketSlots ? socketSlots.word(settled, bytes) : settled;
            return push.pull ? withParams(job, answer, push.pull.tensors, push.pull.have) : answer;
          };
          return r instanceof Promise ? r.then(settle) : settle(r);
        }),
        refused,
      ),
    );

    socket.on(
      'grads:slot',
      respond('grads:slot', slotSchema, (req) =>
        withJob(req.jobId, () => {
          if (!socketSlots) return ok({ slot: 'none', ttlMs: 0 });
          return socketSlots.grant(req.jobId, req.bytes);
        }),
        refused,
      ),
    );

    socket.on('shard:lease', respond('shard:lease', jobRefSchema, (req) => withJob(req.jobId, (job, w) => job.lease(w)), refused));

    socket.on(
      'shard:complete',
      respond('shard:complete', completeSchema, (req) => withJob(req.jobId, (job, w) => job.complete(w, req.leaseId)), refused),
    );

    socket.on('disconnect', (reason) => {
      socketSlots?.release();
      const workerId = socket.data.workerId;
      if (!workerId) return;
      jobs.get(assignments.release(workerId) ?? '')?.release(workerId);
      directory.remove(workerId);
      volunteers?.leave(workerId);
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
  assignments: WorkerAssignments,
  needsJob: (jobId: string | null) => boolean,
): void {
  for (const socket of nsp.sockets.values()) {
    const workerId = socket.data.workerId;
    if (!workerId) continue;
    const current = assignments.jobOf(workerId);
    if (!needsJob(current)) continue;
    const next = jobs.pickFor();
    if (next?.id === current) continue;
    if (current) jobs.get(current)?.release(workerId);
    assignments.assign(workerId, next?.id ?? null);
    socket.emit('job:assign', next?.assignment(workerId) ?? null);
    next?.join(workerId);
  }
}

/** Sends every worker of a job on ps tasks fresh tickets (run well inside a ticket's lifetime). */
export function renewTickets(nsp: WorkerNamespace, jobs: JobRegistry, assignments: WorkerAssignments): void {
  for (const socket of nsp.sockets.values()) {
    const workerId = socket.data.workerId;
    const tickets = workerId ? jobs.get(assignments.jobOf(workerId) ?? '')?.tickets(workerId) : null;
    if (tickets) socket.emit('ps:tickets', tickets);
  }
}

/**
 * A stage's push answered with its tensors as they stand now (GradientPush.pull): what its
 * pull after the answer would get, one round trip sooner. A refused push, or a pull the
 * job refuses (on ps tasks the coordinator holds no parameters), is answered without
 * them, and the stage pulls as before.
 */
function withParams(job: Job, answer: Result<PushAccepted>, tensors: string[], have: number | undefined): Result<PushAccepted> {
  if (!answer.ok) return answer;
  const snap = job.pull(have, tensors);
  if (!snap.ok) return answer;
  const { ok: _, ...params } = snap;
  return { ...answer, params };
}
