/**
 * The chief's side of a cluster of ps tasks: one control socket per task (socket.io-
 * client to its `/ps-control`), every message signed with this chief's epoch
 * (chief-fence.ts), and the ticket signer for workers' assignments. Jobs' remote
 * parameter services (server/params/remote-parameter-service.ts) share it; the
 * coordinator closes it after its jobs.
 *
 * It also knows which tasks are up (task-liveness.ts): a control socket that drops, a
 * connect that is refused or does not complete within `connectTimeoutMs`, or a request
 * that times out, puts its task down with a reason; a task is up again once it
 * answers `task:status`. A request sent before its task's socket ever connected waits
 * for the connect or for the task to go down, not for the request timeout: a chief
 * starting beside a task that is not there holds that task's jobs at once. Jobs watch() that to pause and recover (server/jobs/ps-task-recovery.ts).
 * A supervisor (local-ps-tasks.ts) that restarts a task on a new port moves its endpoint.
 */
import { ReceiptLedger } from './push-receipts.js';
import { io, type Socket } from 'socket.io-client';
import { ErrorCode } from '../../shared/errors.js';
import { PS_CONTROL_NAMESPACE, type PsControlEvents, type PsServerEvents } from '../../shared/ps-protocol.js';
import { fail } from '../../shared/result.js';
import { systemClock, type Clock } from '../clock.js';
import { createLogger, redactSecret } from '../logger.js';
import { chiefCredential } from './chief-fence.js';
import { deriveClusterKeys } from './cluster-keys.js';
import { PartDrops } from './part-drops.js';
import { HoldLedger } from './hold-receipts.js';
import { DEFAULT_PARTITION_BYTES } from './placement.js';
import { DEFAULT_TICKET_TTL_MS, TicketSigner } from './tickets.js';
import { TaskLiveness, type TaskChange, type TaskSupervisor } from './task-liveness.js';

const log = createLogger('ps-cluster');

type PsControlClient = Socket<PsServerEvents, PsControlEvents>;

export interface PsClusterOptions {
  /** Task i's origin (`http://host:port`) at index i. Required, 1..MAX_PS_TASKS. */
  endpoints: string[];
  /** The cluster token the tasks were started with. Required. */
  token: string;
  /**
   * This chief's epoch: tasks refuse control messages from an older one. Default: the
   * wall clock in ms when the coordinator started, so a restarted chief outranks the
   * one it replaces (a chief lease will hand these out later).
   */
  epoch?: number;
  /** Ticket expiry. Default: systemClock. */
  clock?: Clock;
  /** Tensors of more bytes are split by rows over the tasks. Default DEFAULT_PARTITION_BYTES (1 MiB). */
  partitionBytes?: number;
  /** How long a task gets to answer a control message. Default 30 s. */
  requestTimeoutMs?: number;
  /** How long a control socket gets to connect (at start, or to a moved task) before its task is down, on `clock`. Default 5 s. */
  connectTimeoutMs?: number;
  /** How long a worker's ticket lasts; renewed at half of it. Default DEFAULT_TICKET_TTL_MS (10 minutes). */
  ticketTtlMs?: number;
  /** How often a task that stopped answering while its socket stayed up is asked again. Default 2 s. */
  probeMs?: number;
  /** Who restarts the tasks (`--ps N`): moves a restarted task's endpoint, or gives it up. Default: none (tasks on other hosts). */
  supervisor?: TaskSupervisor;
  /** Where deleted jobs' part drops a task still owes are kept across chief restarts (the coordinator's data dir). Default: in memory. */
  dropsFile?: string;
}

/** The ack type of control event E. */
type AckOf<E extends keyof PsControlEvents> = Parameters<Parameters<PsControlEvents[E]>[1]>[0];
/** Control event E's request without the credential the cluster adds. */
type BodyOf<E extends keyof PsControlEvents> = Omit<Parameters<PsControlEvents[E]>[0], 'chief'>;

export class PsCluster {
  readonly epoch: number;
  readonly partitionBytes: number;
  readonly ticketTtlMs: number;
  readonly signer: TicketSigner;
  private readonly keys;
  private readonly urls: string[];
  private readonly sockets: PsControlClient[];
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly clock: Clock;
  /** Requests waiting for a socket that has not connected yet: told why when the cluster closes. */
  private readonly waiting = new Set<(reason: string) => void>();
  private readonly liveness: TaskLiveness;
  private readonly stopSupervising: () => void;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly stopRedacting: () => void;
  /** Deleted jobs' slices and parts, to be dropped on every task (also those down at the time). */
  readonly drops: PartDrops;

  constructor(options: PsClusterOptions) {
    if (options.endpoints.length < 1) throw new RangeError('A cluster has at least one ps task');
    this.keys = deriveClusterKeys(options.token);
    this.stopRedacting = redactSecret(options.token);
    this.urls = [...options.endpoints];
    this.epoch = options.epoch ?? Date.now();
    this.partitionBytes = options.partitionBytes ?? DEFAULT_PARTITION_BYTES;
    this.ticketTtlMs = options.ticketTtlMs ?? DEFAULT_TICKET_TTL_MS;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    const clock = (this.clock = options.clock ?? systemClock);
    this.signer = new TicketSigner(this.keys, () => clock.now(), { ttlMs: this.ticketTtlMs });
    this.liveness = new TaskLiveness({
      tasks: this.urls.length,
      clock,
      probeMs: options.probeMs ?? 2000,
      probe: (task) => this.send(task, 'task:status', {}).then((r) => r.ok),
      connected: (task) => this.sockets[task]?.connected ?? false,
    });
    this.sockets = this.urls.map((url, task) => this.connect(task, url));
    this.drops = new PartDrops({ send: (task, jobId) => this.request(task, 'job:delete', { jobId, dropParts: true }), watch: (l) => this.watch(l), file: options.dropsFile });
    this.stopSupervising =
      options.supervisor?.watch({
        moved: (task, url) => this.move(task, url),
        gone: (task, reason) => this.liveness.gone(task, `ps task ${task} (${this.urls[task]}) ${reason}`),
      }) ?? (() => {});
  }

  /** Task i's origin at index i, as it is now (a restarted local task has a new port). */
  get endpoints(): readonly string[] {
    return this.urls;
  }

  /** Calls `listener` whenever a task goes down (with why) or comes back up; returns the unsubscribe. */
  watch(listener: (change: TaskChange) => void): () => void {
    return this.liveness.watch(listener);
  }

  /** Why `task` is down, or null while it is up. */
  downReason(task: number): string | null {
    return this.liveness.reason(task);
  }

  private connect(task: number, url: string): PsControlClient {
    // socket.io-client reconnects to a task that restarts on the same address.
    const socket: PsControlClient = io(url + PS_CONTROL_NAMESPACE, { transports: ['websocket'], forceNew: true });
    socket.on('connect', () => {
      log.info('ps task connected', { task, url });
      this.liveness.connected(task);
    });
    // A task that cannot be reached at all (never connected, or not back yet) is down too: requests fail at once.
    socket.on('connect_error', () => {
      if (!this.closed) this.liveness.down(task, `ps task ${task} (${url}) is unreachable (cannot connect)`);
    });
    // A connect that hangs (a host that drops packets, a port that accepts and says nothing) is down too, after connectTimeoutMs.
    const slow = this.clock.setTimeout(() => {
      if (!this.closed && !socket.connected && this.sockets[task] === socket) {
        this.liveness.down(task, `ps task ${task} (${url}) is unreachable (did not connect within ${this.connectTimeoutMs} ms)`);
      }
    }, this.connectTimeoutMs);
    socket.once('connect', () => this.clock.clear(slow));
    socket.on('disconnect', (reason) => {
      // Our own close is no news; anything else is a task gone or a network between.
      if (reason === 'io client disconnect') return;
      log.warn('ps task disconnected', { task, url, reason });
      this.liveness.down(task, `ps task ${task} (${url}) is unreachable (${reason})`);
      // socket.io-client does not reconnect by itself when the server ended the connection.
      if (reason === 'io server disconnect' && !this.closed) socket.connect();
    });
    return socket;
  }

  /** A supervisor restarted `task` at `url`: a new socket there; the task is down until it answers. */
  private move(task: number, url: string): void {
    if (this.closed) return;
    const old = this.sockets[task];
    this.liveness.down(task, `ps task ${task} (${this.urls[task]}) restarted at ${url}; not yet connected`);
    this.urls[task] = url;
    old?.disconnect();
    this.sockets[task] = this.connect(task, url);
  }

  /** The receipts `jobId`'s pushes must carry from `tasks` (those holding its slices) to be credited. */
  receiptLedger(jobId: string, tasks: readonly number[], floors?: readonly number[]): ReceiptLedger {
    return new ReceiptLedger(this.keys, jobId, tasks, floors);
  }

  /** The chief's check of a split job's stage-part receipts (server/cluster/hold-receipts.ts). */
  holdLedger(jobId: string): HoldLedger {
    return new HoldLedger(this.keys, jobId);
  }

  get tasks(): number {
    return this.urls.length;
  }

  /**
   * Sends `event` to task `task` with this chief's credential. A task known to be down is
   * PS_TASK_UNREACHABLE at once (nothing is queued for it to run when it is back); one
   * that does not answer in time is PS_TASK_UNREACHABLE and goes down.
   */
  request<E extends keyof PsControlEvents>(task: number, event: E, body: BodyOf<E>): Promise<AckOf<E>> {
    const down = this.liveness.reason(task);
    if (down !== null) return Promise.resolve(fail(ErrorCode.PS_TASK_UNREACHABLE, down) as AckOf<E>);
    return this.send(task, event, body).then((r) => {
      if (!r.ok && r.code === ErrorCode.PS_TASK_UNREACHABLE) this.liveness.down(task, r.message);
      return r;
    });
  }

  private send<E extends keyof PsControlEvents>(task: number, event: E, body: BodyOf<E>): Promise<AckOf<E>> {
    const socket = this.sockets[task];
    if (!socket) return Promise.resolve(fail(ErrorCode.BAD_REQUEST, `No ps task ${task}`) as AckOf<E>);
    if (!socket.connected) {
      // Not queued in the socket to wait out the request timeout: sent once it connects, refused once its task is down.
      const sent = this.whenConnected(task, event).then((down) => (down === null ? this.send(task, event, body) : (fail(ErrorCode.PS_TASK_UNREACHABLE, down) as AckOf<E>)));
      this.inFlight.add(sent);
      void sent.finally(() => this.inFlight.delete(sent));
      return sent;
    }
    const jobId = 'jobId' in body && typeof body.jobId === 'string' ? body.jobId : null;
    const message = { ...body, chief: chiefCredential(this.keys, this.epoch, event, jobId) };
    // One event at a time: socket.io's typed emit cannot follow a generic event name.
    const timed = socket.timeout(this.timeoutMs) as unknown as { emitWithAck(e: E, m: unknown): Promise<AckOf<E>> };
    const sent = timed
      .emitWithAck(event, message)
      .catch((err: unknown): AckOf<E> => {
        // socket.io fails a pending ack at once when its socket drops: say so, not that the timeout passed.
        const dropped = err instanceof Error && err.message === 'socket has been disconnected';
        const why = dropped ? `lost its connection before answering ${event}` : `did not answer ${event} within ${this.timeoutMs} ms`;
        return fail(ErrorCode.PS_TASK_UNREACHABLE, `ps task ${task} (${this.urls[task]}) ${why}`) as AckOf<E>;
      });
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
    return sent;
  }

  /** Null once `task`'s socket is connected; why not, if its task goes down or `event`'s request timeout passes first. */
  private whenConnected(task: number, event: string): Promise<string | null> {
    const socket = this.sockets[task]!;
    if (socket.connected) return Promise.resolve(null);
    const down = this.liveness.reason(task);
    if (down !== null || this.closed) return Promise.resolve(down ?? 'the cluster is closed');
    return new Promise((resolve) => {
      // Real time, as socket.io's own request timeout is: a request never waits longer than requestTimeoutMs in all.
      const late = setTimeout(() => done(`ps task ${task} (${this.urls[task]}) did not answer ${event} within ${this.timeoutMs} ms`), this.timeoutMs).unref();
      const done = (reason: string | null) => {
        clearTimeout(late);
        socket.off('connect', onConnect);
        unwatch();
        this.waiting.delete(done);
        resolve(reason);
      };
      const onConnect = () => done(null);
      const unwatch = this.liveness.watch((c) => {
        if (c.task === task && !c.up) done(c.reason);
      });
      socket.on('connect', onConnect);
      this.waiting.add(done);
    });
  }

  /** Waits for the messages already sent (a job's deletion at shutdown), then closes the sockets. */
  async close(): Promise<void> {
    this.closed = true;
    for (const done of [...this.waiting]) done(`ps cluster closed`);
    this.drops.close();
    this.stopSupervising();
    this.liveness.close();
    await Promise.allSettled([...this.inFlight]);
    for (const s of this.sockets) s.disconnect();
    this.stopRedacting();
  }
}
