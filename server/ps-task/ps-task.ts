/**
 * Builds a ps task (TensorFlow's `ps` job: it holds the parameters the placement gives
 * it and applies pushes to them) without binding a port, as createCoordinator does:
 * tests start it on port 0, server/ps-task/main.ts on `--port`. Its own HTTP server
 * carries two socket.io namespaces: `/ps-worker` for workers with tickets and
 * `/ps-control` for the chief (shared/ps-protocol.ts). A job's state is in memory; on
 * the chief's `ckpt:write` the task writes its part of a checkpoint into its data
 * directory, and loads it back on `ckpt:load` (checkpoint-parts.ts).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import { capConnectionsPerAddress } from '../http/connection-cap.js';
import { closeIdleSockets } from '../http/idle-sockets.js';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { PS_CONTROL_NAMESPACE, PS_WORKER_NAMESPACE } from '../../shared/ps-protocol.js';
import { PARAMETERS_PER_PS_TASK } from '../cluster/capacity.js';
import { ChiefFence } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { systemClock, type Clock } from '../clock.js';
import { closeServer } from '../http/close-server.js';
import { redactSecret } from '../logger.js';
import type { ApplySettings } from '../params/apply-engine.js';
import { payloadCapBytes } from '../params/gradient-gate.js';
import { PushAdmission, type PushAdmissionOptions } from '../params/push-admission.js';
import { PushSlots, type PushSlotOptions } from '../params/push-slots.js';
import type { SocketGuardOptions } from '../worker/socket-guard.js';
import { CheckpointParts } from './checkpoint-parts.js';
import { ChiefEpochFile } from './chief-epoch-file.js';
import { attachControlNamespace, type PsControlNamespace } from './control-namespace.js';
import type { PsTaskState } from './task-state.js';
import { attachPsWorkerNamespace, type PsWorkerNamespace } from './worker-namespace.js';

export interface PsTaskOptions {
  /** The cluster token shared with the chief (main.ts reads it from --token-file). Required. */
  token: string;
  /** Ticket expiry and rate limits read it. Default: systemClock. */
  clock?: Clock;
  /** Which kernels apply updates, on how many threads. Default: PS_TASK_APPLY_SETTINGS (the event loop alone; server/params/apply-engine.ts). */
  apply?: ApplySettings;
  /** Largest socket.io message accepted. Default: a task's worth of fp32 parameters plus headroom (a job's initial values). */
  maxMessageBytes?: number;
  /** A connection silent this long (no request, headers never finished) is closed (server/http/idle-sockets.ts). Default: IDLE_SOCKET_MS (70 s). */
  idleSocketMs?: number;
  /**
   * Connections one IP address may hold at once; 0: no cap (behind a proxy that caps its
   * clients, or a benchmark whose simulated workers share one host). Workers connect here as
   * well as to the coordinator, so the task caps them as it does. Default:
   * DEFAULT_CONNECTIONS_PER_ADDRESS (server/http/connection-cap.ts).
   */
  connectionsPerAddress?: number;
  /** Rate limit and misbehaviour limit per worker socket. Default: the coordinator's (server/worker/socket-guard.ts). */
  workerGuard?: SocketGuardOptions;
  /** When pushes are answered BUSY: the coordinator's bounds (server/params/push-admission.ts), on this task's clock. */
  admission?: PushAdmissionOptions;
  /** When workers must ask this task for a push slot before sending their slices: the coordinator's (server/params/push-slots.ts), on this task's clock. */
  slots?: PushSlotOptions;
  /** Where checkpoint parts are written (`<dataDir>/ps-parts`). Default: none, and `ckpt:write` is refused CHECKPOINT_WRITE_FAILED. */
  dataDir?: string;
  /** Parts kept per job besides those the chief's committed manifests name. Default 3. */
  keepParts?: number;
}

export interface PsTask {
  httpServer: HttpServer;
  io: Server;
  /** The highest chief epoch this task has seen (0: none yet). */
  readonly chiefEpoch: number;
  /** The task's push slots (counts for tests and benchmarks). */
  readonly slots: PushSlots;
  listen(port: number, host?: string): Promise<{ port: number }>;
  close(): Promise<void>;
}

export function createPsTask(options: PsTaskOptions): PsTask {
  const clock = options.clock ?? systemClock;
  const keys = deriveClusterKeys(options.token);
  const stopRedacting = redactSecret(options.token);
  const admission = new PushAdmission(clock, options.admission);
  const state: PsTaskState = {
    jobs: new Map(),
    // With a data dir, the highest epoch outlives a restart (a deposed chief stays deposed).
    fence: new ChiefFence(keys, options.dataDir === undefined ? null : new ChiefEpochFile(options.dataDir)),
    keys,
    now: () => clock.now(),
    apply: options.apply,
    admission,
    slots: new PushSlots(clock, options.slots, () => admission.counts().busy),
    parts: options.dataDir === undefined ? null : new CheckpointParts(join(options.dataDir, 'ps-parts'), options.keepParts ?? 3),
  };

  const httpServer = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, code: 'NOT_FOUND', message: 'A ps task serves socket.io only' }));
  });
  capConnectionsPerAddress(httpServer, options.connectionsPerAddress, 'this ps task');
  closeIdleSockets(httpServer, options.idleSocketMs);
  // WebSocket only, as workers and the chief connect (server/coordinator.ts says why).
  const io = new Server(httpServer, { maxHttpBufferSize: options.maxMessageBytes ?? payloadCapBytes(PARAMETERS_PER_PS_TASK) + 64 * 1024, serveClient: false, transports: ['websocket'] });
  // The root namespace is no one's: refuse connections to it.
  io.of('/').use((_socket, next) => next(new Error('connect to /ps-worker or /ps-control')));
  // Each namespace has its own event maps; the server-wide generic cannot express that.
  attachPsWorkerNamespace(io.of(PS_WORKER_NAMESPACE) as unknown as PsWorkerNamespace, state, options.workerGuard);
  attachControlNamespace(io.of(PS_CONTROL_NAMESPACE) as unknown as PsControlNamespace, state);

  return {
    httpServer,
    io,
    get chiefEpoch() {
      return state.fence.epoch;
    },
    slots: state.slots,
    listen(port, host = '0.0.0.0') {
      return new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          resolve({ port: (httpServer.address() as AddressInfo).port });
        });
      });
    },
    async close() {
      io.close();
      await closeServer(httpServer, clock);
      for (const job of state.jobs.values()) job.dispose();
      state.jobs.clear();
      state.admission.close();
      state.slots.close();
      stopRedacting();
    },
  };
}
