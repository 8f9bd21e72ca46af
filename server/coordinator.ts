/**
 * Builds the coordinator (HTTP app, socket.io worker and operator namespaces, jobs,
 * persistence) without binding a port: tests start it on port 0, server/main.ts on
 * the configured port.
 */
import express from 'express';
import { mkdirSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { capConnectionsPerAddress } from './http/connection-cap.js';
import { closeIdleSockets } from './http/idle-sockets.js';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '../shared/errors.js';
import { parseJobSpec } from '../shared/job-spec.js';
import { OPERATOR_NAMESPACE } from '../shared/operator-protocol.js';
import { WORKER_NAMESPACE } from '../shared/protocol.js';
import { fail, type Result } from '../shared/result.js';
import { CheckpointStore } from './checkpoints/checkpoint-store.js';
import { presetCapacityRefusal } from './cluster/preset-capacity.js';
import { PsCluster, type PsClusterOptions } from './cluster/ps-cluster.js';
import { systemClock, type Clock } from './clock.js';
import { closeServer } from './http/close-server.js';
import { DatasetRegistry } from './data/datasets.js';
import { ShardStore } from './data/shard-store.js';
import { createEvaluationService, type EvaluationService } from './eval/evaluator.js';
import { apiRouter } from './http/api.js';
import { clientPages } from './http/client-pages.js';
import { apiNotFound, errorHandler } from './http/errors.js';
import { metricsExportRouter } from './http/metrics-export.js';
import { operatorRouter } from './http/operator-api.js';
import { securityHeaders } from './http/security-headers.js';
import { shardRouter } from './http/shards.js';
import type { Job } from './jobs/job.js';
import { payloadCapBytes } from './params/gradient-gate.js';
import { createTrustedGradientService, type TrustedGradientService } from './params/trusted-gradient.js';
import { JobRegistry } from './jobs/job-registry.js';
import { redactSecret } from './logger.js';
import { createMetrics } from './metrics.js';
import { attachOperatorNamespace, type OperatorChannel, type OperatorNamespace } from './operator/operator-namespace.js';
import type { JobStore } from './store/job-store.js';
import { SqliteJobStore } from './store/sqlite-job-store.js';
import { WorkerAssignments } from './worker/assignments.js';
import { attachWorkerNamespace, reassignWorkers, renewTickets, type WorkerNamespace } from './worker/worker-namespace.js';
import { WorkerDirectory } from './worker/worker-directory.js';
import type { SocketGuardOptions } from './worker/socket-guard.js';
import type { ApplySettings } from './params/apply-engine.js';
import type { ProjectInfo } from '../shared/volunteer-protocol.js';
import { volunteerRouter } from './http/volunteer-api.js';
import { SqliteVolunteerStore } from './store/sqlite-volunteer-store.js';
import { MemoryVolunteerStore, type VolunteerStore } from './store/volunteer-store.js';
import { PushAdmission, type PushAdmissionOptions } from './params/push-admission.js';
import { PushSlots, type PushSlotOptions } from './params/push-slots.js';
import { ContributionLedger, type ContributionLedgerOptions } from './volunteers/contribution-ledger.js';
import { parseProjectInfo } from './volunteers/project-info.js';

/** Models larger than this are refused at job creation; it sizes socket.io's message cap. One ps task's worth (server/cluster/capacity.ts). */
export const MAX_MODEL_PARAMETERS = 4_000_000;

export interface CoordinatorOptions {
  /** Directory of the Vite-built client. Default: dist/client in the checkout. */
  clientDir?: string;
  /** Where jobs (SQLite), checkpoints and uploaded datasets live. Default: null, nothing is kept. */
  dataDir?: string | null;
  /** The operator token. Default: a random one for this process (main.ts resolves the persistent one). */
  operatorToken?: string;
  /** Time for records, leases and rate limits, and the timers of round deadlines, evaluations, checkpoints and the dashboard tick. Default: systemClock. */
  clock?: Clock;
  /** Where evaluations run. Default: a worker thread with tfjs on wasm. */
  evaluation?: EvaluationService;
  /** Where the trusted gradients of the direction check are computed. Default: a worker thread with tfjs on wasm. */
  trustedGradients?: TrustedGradientService;
  /** Largest socket.io message accepted. Default: a gradient of MAX_MODEL_PARAMETERS floats plus headroom. */
  maxMessageBytes?: number;
  /** A connection silent this long (no request, headers never finished) is closed (server/http/idle-sockets.ts). Default: IDLE_SOCKET_MS (70 s). */
  idleSocketMs?: number;
  /** Connections one IP address may hold at once; 0: no cap (behind a proxy that caps its clients). Default: DEFAULT_CONNECTIONS_PER_ADDRESS (server/http/connection-cap.ts). */
  connectionsPerAddress?: number;
  /** Checkpoints kept per job. Default: 3. */
  keepCheckpoints?: number;
  /** Rate limit and misbehaviour limit per worker socket (see server/worker/socket-guard.ts). */
  workerGuard?: SocketGuardOptions;
  /** Which kernels apply updates, on how many threads. Default: DEFAULT_APPLY_SETTINGS (SIMD kernels, up to 4 threads). */
  apply?: ApplySettings;
  /** Who runs this coordinator, shown to volunteers before Start; validated (throws ProjectInfoError). Default: DEFAULT_PROJECT (no operator named). */
  project?: Partial<ProjectInfo>;
  /** How volunteers' contribution is gathered and stored (see server/volunteers/contribution-ledger.ts). */
  contributions?: ContributionLedgerOptions;
  /** When pushes are answered BUSY (see server/params/push-admission.ts for each bound's default). */
  admission?: PushAdmissionOptions;
  /** When workers must ask for a push slot before sending a payload (see server/params/push-slots.ts for each default). */
  slots?: PushSlotOptions;
  /**
   * ps tasks to keep every job's parameters on (docs/cluster.md): their endpoints and the
   * cluster token; the clock defaults to this coordinator's. Default: none, the
   * parameters live in this process.
   */
  cluster?: PsClusterOptions;
}

export interface CreateJobOptions {
  topology?: object | null;
  /** Default true: the job runs at once. */
  start?: boolean;
}

export interface Coordinator {
  app: express.Express;
  httpServer: HttpServer;
  io: Server;
  workerNamespace: WorkerNamespace;
  jobs: JobRegistry;
  workers: WorkerDirectory;
  /** The bound on pushes this process takes at once, shared by its jobs (BUSY beyond it). */
  admission: PushAdmission;
  /** Push slots: under load a payload is sent only with a grant (refused before its bytes arrive). */
  slots: PushSlots;
  /** Volunteers' lasting contribution (SQLite under dataDir, else in memory). */
  volunteers: VolunteerStore;
  operatorToken: string;
  /** Validates a job spec and builds the job; idle workers are assigned to it if it runs. */
  createJob(input: unknown, opts?: CreateJobOptions): Promise<Result<{ job: Job }>>;
  /** Reloads stored jobs; running ones resume from their last checkpoint. */
  restore(): Promise<Job[]>;
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../dist/client', import.meta.url));

export function createCoordinator(options: CoordinatorOptions = {}): Coordinator {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const evaluation = options.evaluation ?? createEvaluationService();
  const trustedGradients = options.trustedGradients ?? createTrustedGradientService();
  const maxMessageBytes = options.maxMessageBytes ?? payloadCapBytes(MAX_MODEL_PARAMETERS) + 64 * 1024;
  const operatorToken = options.operatorToken ?? randomBytes(24).toString('base64url');
  const stopRedactingToken = redactSecret(operatorToken);
  const dataDir = options.dataDir ?? null;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const store: JobStore | null = dataDir ? new SqliteJobStore(join(dataDir, 'downpour.sqlite')) : null;
  const checkpoints = dataDir ? new CheckpointStore(join(dataDir, 'checkpoints'), options.keepCheckpoints ?? 3) : null;
  const datasets = new DatasetRegistry(dataDir ? join(dataDir, 'datasets') : null);
  const project = parseProjectInfo(options.project ?? {});
  const volunteers: VolunteerStore = dataDir ? new SqliteVolunteerStore(join(dataDir, 'downpour.sqlite')) : new MemoryVolunteerStore();
  const contributions = new ContributionLedger(volunteers, clock, options.contributions);
  const admission = new PushAdmission(clock, options.admission);
  const slots = new PushSlots(clock, options.slots, () => admission.counts().busy);
  const cluster = options.cluster ? new PsCluster({ clock, ...(dataDir ? { dropsFile: join(dataDir, 'ps-part-drops.json') } : {}), ...options.cluster }) : null;

  const app = express();
  app.disable('x-powered-by');
  const httpServer = createServer(app);
  capConnectionsPerAddress(httpServer, options.connectionsPerAddress, 'the coordinator');
  // Idle keep-alive connections outlive a load balancer's (60 s on common ones) and a
  // client's: with Node's 5 s default a client reusing a connection the server is just
  // closing gets ECONNRESET, and a proxy in front answers 502.
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  closeIdleSockets(httpServer, options.idleSocketMs);
  // WebSocket only, as every client connects: over long-polling each answer is an HTTP body the server hands on at once, out of the reach of the bound on what a peer leaves unread (server/worker/unread-bytes.ts).
  const io = new Server(httpServer, { maxHttpBufferSize: maxMessageBytes, serveClient: false, transports: ['websocket'] });
  // Each namespace has its own event maps; the server-wide generic cannot express that.
  const workerNamespace = io.of(WORKER_NAMESPACE) as unknown as WorkerNamespace;
  const operatorNamespace = io.of(OPERATOR_NAMESPACE) as unknown as OperatorNamespace;
  const assignments = new WorkerAssignments();
  const workers = new WorkerDirectory(assignments, now);
  const shardStore = new ShardStore();
  let operator: OperatorChannel | null = null;

  const assignIdle = () => reassignWorkers(workerNamespace, jobs, assignments, (jobId) => jobId === null);
  const jobs: JobRegistry = new JobRegistry({
    shardStore,
    datasets,
    evaluation,
    trustedGradients,
    store,
    checkpoints,
    clock,
    assignments,
    // One task's worth per ps task: a model larger than one process holds is spread over them.
    maxParameters: MAX_MODEL_PARAMETERS * (cluster?.tasks ?? 1),
    apply: options.apply,
    admission,
    cluster,
    onStateChange: (job) => {
      if (job.state === 'running') assignIdle();
      else reassignWorkers(workerNamespace, jobs, assignments, (jobId) => jobId === job.id);
    },
    onEval: (job, rec) => operator?.evaluated(job, rec),
    // Credited when the push is settled (a sync round's close, too), from the lease's count.
    onCredited: (job, workerId, examples) => contributions.credit(workerId, { id: job.id, name: job.spec.name }, examples),
    onReplicaNotice: (job, workerId, notice) => {
      const socket = workerNamespace.sockets.get(workers.get(workerId)?.socketId ?? '');
      if (notice.kind === 'formed') socket?.emit('job:assign', job.assignment(workerId));
      else socket?.emit('replica:dissolve', { replicaId: notice.replicaId, reason: notice.reason });
    },
  });

  attachWorkerNamespace(workerNamespace, jobs, workers, assignments, now, options.workerGuard, contributions, slots);
  operator = attachOperatorNamespace(operatorNamespace, { token: operatorToken, jobs, workers, store, now });
  const ticker = clock.setInterval(() => operator?.tick(), 1000);
  // Workers' ps tickets are renewed at half their lifetime, so a slow push never carries an expired one.
  const renewal = cluster ? clock.setInterval(() => renewTickets(workerNamespace, jobs, assignments), cluster.ticketTtlMs / 2) : null;
  const metrics = createMetrics(jobs, workers);

  app.use(securityHeaders);
  app.use('/api', apiRouter(jobs, datasets));
  app.use('/api', volunteerRouter({ project, jobs, datasets, store: volunteers, ledger: contributions, now }));
  app.use('/api', operatorRouter({ token: operatorToken, jobs, datasets, checkpoints, shards: shardStore, onJobsChanged: assignIdle }));
  app.use('/api', metricsExportRouter({ token: operatorToken, jobs, store, now }));
  app.use('/api', apiNotFound);
  app.use('/shards', shardRouter(shardStore));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  const clientDir = options.clientDir ?? DEFAULT_CLIENT_DIR;
  app.get('/dashboard', (_req, res) => res.sendFile(join(clientDir, 'dashboard.html'), (err) => err && res.status(404).end()));
  app.get('/leaderboard', (_req, res) => res.sendFile(join(clientDir, 'leaderboard.html'), (err) => err && res.status(404).end()));
  app.use(clientPages(clientDir));
  app.use(errorHandler);

  return {
    app,
    httpServer,
    io,
    workerNamespace,
    jobs,
    workers,
    admission,
    slots,
    volunteers,
    operatorToken,
    async createJob(input, opts = {}) {
      const parsed = parseJobSpec(input);
      if (!parsed.ok) return fail(ErrorCode.BAD_REQUEST, parsed.message);
      const beyond = presetCapacityRefusal(parsed.value, datasets, jobs.psTasks);
      if (beyond) return beyond;
      const created = await jobs.create(parsed.value, opts.topology ?? null, opts.start ?? true);
      return created;
    },
    async restore() {
      const restored = await jobs.restore();
      assignIdle();
      return restored;
    },
    listen(port, host = '0.0.0.0') {
      return new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          const bound = (httpServer.address() as AddressInfo).port;
          resolve({ port: bound, url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${bound}/` });
        });
      });
    },
    async close() {
      clock.clear(ticker);
      admission.close();
      slots.close();
      if (renewal) clock.clear(renewal);
      // Workers first, so no push moves a job past the checkpoint its quiesce writes.
      io.close();
      await Promise.all(jobs.list().map((j) => j.quiesce()));
      jobs.close();
      await cluster?.close(); // after the jobs: their last snapshots and deletions go out first
      contributions.close(); // after the workers are gone: their last accepted pushes are stored
      await closeServer(httpServer, clock);
      await evaluation.close();
      await trustedGradients.close();
      store?.close();
      volunteers.close();
      stopRedactingToken();
    },
  };
}
