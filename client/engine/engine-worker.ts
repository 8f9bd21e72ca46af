/**
 * Entry point of the dedicated Web Worker that trains: the page's main thread only
 * renders, so the volunteer's tab stays responsive however long a batch takes.
 * WebGPU, wasm and cpu work here as on the page; WebGL needs OffscreenCanvas with
 * WebGL2, which tfjs uses by itself inside a worker (e2e/webgl-worker.spec.ts).
 */
import type { BackendName } from '../../shared/protocol.js';
import type { BackendCache } from './backend-cache.js';
import type { ExchangeFactory } from './create-exchange.js';
import type { EngineExchange, EngineToPage, PageToEngine } from './engine-messages.js';
import { StandaloneExchange } from './standalone-exchange.js';
import type { EngineStatus } from './status.js';
import { WorkerEngine } from './worker-engine.js';
import { PagePeers, PeerTransport } from './peer-transport.js';

// The project compiles with the DOM lib (the webworker lib conflicts with it); the
// few members used here have the same shape on DedicatedWorkerGlobalScope.

/** Status changes come per batch and more; the page needs at most one every STATUS_MS. */
const STATUS_MS = 16;

function post(message: EngineToPage, transfer: Transferable[] = []): void {
  self.postMessage(message, { transfer });
}

/** The page's peer connections, when it can open them. */
let peers: PagePeers | null = null;

let lastPost = 0;
let pending: ReturnType<typeof setTimeout> | null = null;
function postStatus(status: EngineStatus): void {
  const since = performance.now() - lastPost;
  if (since >= STATUS_MS) {
    if (pending) clearTimeout(pending);
    pending = null;
    lastPost = performance.now();
    post({ type: 'status', status });
  } else {
    pending ??= setTimeout(() => {
      pending = null;
      lastPost = performance.now();
      post({ type: 'status', status });
    }, STATUS_MS - since);
  }
}

/** The page's remembered choices, and new ones sent back for it to store. */
function pageBackendCache(initial: Record<string, BackendName>): BackendCache {
  const entries = new Map(Object.entries(initial));
  return {
    get: (key) => entries.get(key) ?? null,
    set: (key, backend) => {
      entries.set(key, backend);
      post({ type: 'remember-backend', key, backend });
    },
  };
}

/** undefined: the engine's default, the job's mode. 'standalone' is the overhead bench's baseline, never the volunteer page's. */
function exchangeFactory(exchange: EngineExchange): ExchangeFactory | undefined {
  switch (exchange) {
    case 'job':
      return undefined;
    case 'standalone':
      return (job, trainer, transport, events) =>
        new StandaloneExchange(job, trainer, transport, events, { onLoss: (loss, steps) => post({ type: 'local-loss', loss, steps }) });
    default: {
      const check: never = exchange;
      throw new Error(`unknown exchange ${JSON.stringify(check)}`);
    }
  }
}

let engine: WorkerEngine | null = null;

function handle(msg: PageToEngine): void {
  switch (msg.type) {
    case 'init':
      if (msg.webrtc) peers ??= new PagePeers(post);
      engine ??= new WorkerEngine({
        origin: msg.origin,
        forcedBackend: msg.forcedBackend,
        backendCache: pageBackendCache(msg.backendCache),
        dutyCycle: msg.duty,
        dataCapMbPerHour: msg.dataCapMbPerHour ?? null,
        onStatus: postStatus,
        createExchange: exchangeFactory(msg.exchange ?? 'job'),
        volunteerId: msg.volunteerId ?? null,
        frameTransport: peers ? (socket, job) => new PeerTransport(socket, job, peers!) : undefined,
      });
      postStatus(engine.status);
      return;
    case 'start':
      engine?.start();
      return;
    case 'pause':
      engine?.pause();
      return;
    case 'set-duty':
      engine?.setDutyCycle(msg.duty);
      return;
    case 'set-data-cap':
      engine?.setDataCap(msg.mbPerHour);
      return;
    case 'peer-signal':
    case 'peer-opened':
    case 'peer-frame':
    case 'peer-closed':
      peers?.handle(msg);
      return;
    default: {
      const check: never = msg;
      throw new Error(`unknown message ${JSON.stringify(check)}`);
    }
  }
}

self.addEventListener('message', (e: MessageEvent<PageToEngine>) => {
  try {
    handle(e.data);
  } catch (err) {
    post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  }
});
self.addEventListener('unhandledrejection', (e) => {
  post({ type: 'fatal', message: `unhandled rejection in the engine: ${String(e.reason)}` });
});
