/**
 * The page's handle on the training engine, which runs in a dedicated Web Worker.
 * Keeps the latest EngineStatus (window.downpour.status reads it) and the
 * localStorage side of the backend cache, which a worker cannot reach.
 */
import type { BackendName } from '../../shared/protocol.js';
import { BACKEND_CACHE_PREFIX } from '../engine/backend-cache.js';
import type { DutyCycle, EngineExchange, EngineToPage, PageToEngine } from '../engine/engine-messages.js';
import { initialStatus, type EngineStatus } from '../engine/status.js';
import { canLinkPeers, PeerLinks } from './peer-links.js';

export interface EngineHostOptions {
  forcedBackend: BackendName | null;
  duty: DutyCycle;
  /** MB per hour both ways; null: none. Default: null. */
  dataCapMbPerHour?: number | null;
  onStatus(status: EngineStatus): void;
  /** The engine failed in a way it cannot recover from. */
  onFatal(message: string): void;
  /** Which exchange the engine trains with. Default: 'job'. Only the overhead bench's page asks for 'standalone'. */
  exchange?: EngineExchange;
  /** The standalone exchange's mean loss over its last few steps. Default: ignored. */
  onLocalLoss?(loss: number, steps: number): void;
  /** The browser's lasting anonymous volunteer id (page/volunteer-id.ts). Default: none. */
  volunteerId?: string | null;
  /** Link the engine's pipeline stages by WebRTC where the page can. Default: true (false: relay only). */
  webrtc?: boolean;
}

function readBackendCache(): Record<string, BackendName> {
  const out: Record<string, BackendName> = {};
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key?.startsWith(BACKEND_CACHE_PREFIX)) out[key] = localStorage.getItem(key) as BackendName;
    }
  } catch {
    // Storage may be disabled (private mode): the engine measures again.
  }
  return out;
}

export class EngineHost {
  /** Replaced on every report; read it afresh rather than keeping a reference. */
  status: EngineStatus = initialStatus();
  private readonly worker: Worker;
  /** The engine's stages' WebRTC links (RTCPeerConnection lives only on the main thread); null where the page has no WebRTC. */
  private readonly peers: PeerLinks | null;

  constructor(private readonly opts: EngineHostOptions) {
    this.worker = new Worker(new URL('../engine/engine-worker.ts', import.meta.url), { type: 'module', name: 'downpour-engine' });
    this.peers = (opts.webrtc ?? true) && canLinkPeers() ? new PeerLinks((msg, transfer) => this.send(msg, transfer)) : null;
    this.worker.addEventListener('message', (e: MessageEvent<EngineToPage>) => this.receive(e.data));
    this.worker.addEventListener('error', (e) => opts.onFatal(`the training worker failed: ${e.message || 'could not load'}`));
    this.send({
      type: 'init',
      origin: location.origin,
      forcedBackend: opts.forcedBackend,
      backendCache: readBackendCache(),
      duty: opts.duty,
      dataCapMbPerHour: opts.dataCapMbPerHour ?? null,
      exchange: opts.exchange ?? 'job',
      volunteerId: opts.volunteerId ?? null,
      webrtc: this.peers !== null,
    });
  }

  start(): void {
    this.send({ type: 'start' });
  }

  pause(): void {
    this.send({ type: 'pause' });
  }

  setDuty(duty: DutyCycle): void {
    this.send({ type: 'set-duty', duty });
  }

  setDataCap(mbPerHour: number | null): void {
    this.send({ type: 'set-data-cap', mbPerHour });
  }

  private send(msg: PageToEngine, transfer: Transferable[] = []): void {
    this.worker.postMessage(msg, { transfer });
  }

  private receive(msg: EngineToPage): void {
    switch (msg.type) {
      case 'status':
        this.status = msg.status;
        this.opts.onStatus(msg.status);
        return;
      case 'remember-backend':
        try {
          localStorage.setItem(msg.key, msg.backend);
        } catch {
          // Not remembered: the next visit measures again.
        }
        return;
      case 'local-loss':
        this.opts.onLocalLoss?.(msg.loss, msg.steps);
        return;
      case 'fatal':
        this.opts.onFatal(msg.message);
        return;
      case 'peer-open':
      case 'peer-signal':
      case 'peer-send':
      case 'peer-close':
        this.peers?.handle(msg);
        return;
      default: {
        const check: never = msg;
        throw new Error(`unknown engine message ${JSON.stringify(check)}`);
      }
    }
  }
}
