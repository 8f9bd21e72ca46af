/**
 * Builds the coordinator (HTTP app + socket.io worker namespace + jobs) without
 * binding a port: tests start it on port 0, server/main.ts on the configured port.
 */
import express from 'express';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import { ErrorCode } from '../shared/errors.js';
import { parseJobSpec } from '../shared/job-spec.js';
import { WORKER_NAMESPACE } from '../shared/protocol.js';
import { fail, type Result } from '../shared/result.js';
import { ShardStore } from './data/shard-store.js';
import { createEvaluationService, type EvaluationService } from './eval/evaluator.js';
import { apiRouter } from './http/api.js';
import { clientPages } from './http/client-pages.js';
import { shardRouter } from './http/shards.js';
import { payloadCapBytes, type Job } from './jobs/job.js';
import { JobRegistry } from './jobs/job-registry.js';
import { createLogger } from './logger.js';
import { attachWorkerNamespace, reassignWorkers, type WorkerNamespace } from './worker/worker-namespace.js';
import { WorkerDirectory } from './worker/worker-directory.js';

const log = createLogger('coordinator');

/** Models larger than this are refused at job creation; it sizes socket.io's message cap. */
export const MAX_MODEL_PARAMETERS = 4_000_000;

export interface CoordinatorOptions {
  /** Directory of the Vite-built client. Default: dist/client in the checkout. */
  clientDir?: string;
  /** Clock for leases and records. Default: Date.now. */
  now?: () => number;
  /** Where evaluations run. Default: a worker thread with tfjs on wasm. */
  evaluation?: EvaluationService;
  /** Largest socket.io message accepted. Default: a gradient of MAX_MODEL_PARAMETERS floats plus headroom. */
  maxMessageBytes?: number;
}

export interface Coordinator {
  app: express.Express;
  httpServer: HttpServer;
  io: Server;
  workerNamespace: WorkerNamespace;
  jobs: JobRegistry;
  workers: WorkerDirectory;
  /** Validates a job spec, builds the job and starts it; idle workers are assigned to it. */
  createJob(input: unknown): Promise<Result<{ job: Job }>>;
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../dist/client', import.meta.url));

export function createCoordinator(options: CoordinatorOptions = {}): Coordinator {
  const now = options.now ?? Date.now;
  const evaluation = options.evaluation ?? createEvaluationService();
  const maxMessageBytes = options.maxMessageBytes ?? payloadCapBytes(MAX_MODEL_PARAMETERS) + 64 * 1024;

  const app = express();
  app.disable('x-powered-by');
  const httpServer = createServer(app);
  const io = new Server(httpServer, { maxHttpBufferSize: maxMessageBytes, serveClient: false });
  // Each namespace has its own event maps; the server-wide generic cannot express that.
  const workerNamespace = io.of(WORKER_NAMESPACE) as unknown as WorkerNamespace;
  const workers = new WorkerDirectory(now);
  const shardStore = new ShardStore();

  const jobs: JobRegistry = new JobRegistry({
    shardStore,
    evaluation,
    now,
    maxParameters: MAX_MODEL_PARAMETERS,
    onStateChange: (job) => reassignWorkers(workerNamespace, jobs, workers, (jobId) => jobId === job.id),
  });

  attachWorkerNamespace(workerNamespace, jobs, workers);
  app.use('/api', apiRouter(jobs));
  app.use('/shards', shardRouter(shardStore));
  app.use(clientPages(options.clientDir ?? DEFAULT_CLIENT_DIR));

  return {
    app,
    httpServer,
    io,
    workerNamespace,
    jobs,
    workers,
    async createJob(input) {
      const parsed = parseJobSpec(input);
      if (!parsed.ok) return fail(ErrorCode.BAD_REQUEST, parsed.message);
      const created = await jobs.create(parsed.value);
      if (!created.ok) return created;
      const { job } = created;
      log.info('job started', { job: job.id, name: job.spec.name, model: job.spec.model, parameters: job.store.parameterCount });
      reassignWorkers(workerNamespace, jobs, workers, (jobId) => jobId === null);
      return created;
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
      jobs.close();
      io.close();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await evaluation.close();
    },
  };
}
