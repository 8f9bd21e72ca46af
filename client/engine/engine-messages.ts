/**
 * The page ↔ engine Web Worker protocol: one tagged union each way. The page owns
 * consent, preferences and localStorage; the worker owns tfjs, the socket and the
 * training loop. Every `switch` over these ends in `const check: never`.
 */
import type { BackendName } from '../../shared/protocol.js';
import type { PeerCandidate } from '../../shared/replica-protocol.js';

/** A WebRTC signalling message between two neighbouring stages (the engine's socket carries it as peer:offer / peer:answer / peer:ice). */
export type PeerSignal = { kind: 'offer' | 'answer'; sdp: string } | { kind: 'ice'; candidate: PeerCandidate };
import type { EngineStatus } from './status.js';

/** Fraction of wall time spent computing: 0.25, 0.5 or 1. */
export const DUTY_CYCLES = [0.25, 0.5, 1] as const;
export type DutyCycle = (typeof DUTY_CYCLES)[number];

/**
 * The exchange the engine trains with. 'job': the job's consistency mode (createExchange),
 * what every volunteer runs. 'standalone': bench only (client/bench.ts), the tab trains
 * alone with a local optimizer (StandaloneExchange); the volunteer page never sends it.
 */
export const ENGINE_EXCHANGES = ['job', 'standalone'] as const;
export type EngineExchange = (typeof ENGINE_EXCHANGES)[number];

export type PageToEngine =
  /** First message: where the coordinator is and what the page remembers. `exchange` defaults to 'job'; `volunteerId` to none. */
  | {
      type: 'init';
      origin: string;
      forcedBackend: BackendName | null;
      backendCache: Record<string, BackendName>;
      duty: DutyCycle;
      /** MB per hour both ways; null or absent: no cap. */
      dataCapMbPerHour?: number | null;
      exchange?: EngineExchange;
      volunteerId?: string | null;
      /** The page can open RTCPeerConnections (a Web Worker cannot): stages link to their neighbours over WebRTC. Absent: relay only. */
      webrtc?: boolean;
    }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'set-duty'; duty: DutyCycle }
  | { type: 'set-data-cap'; mbPerHour: number | null }
  /** The page's peer connection to a neighbouring stage (page/peer-links.ts) produced a signal for it. */
  | { type: 'peer-signal'; replicaId: string; peer: string; signal: PeerSignal }
  /** The data channel to `peer` is open: frames may go over it. */
  | { type: 'peer-opened'; replicaId: string; peer: string }
  /** A frame from `peer`, its buffer transferred. */
  | { type: 'peer-frame'; replicaId: string; peer: string; frame: ArrayBuffer }
  /** The connection to `peer` failed or closed. */
  | { type: 'peer-closed'; replicaId: string; peer: string; reason: string };

export type EngineToPage =
  | { type: 'status'; status: EngineStatus }
  /** The measured backend choice for a model; the page stores it in localStorage. */
  | { type: 'remember-backend'; key: string; backend: BackendName }
  /** 'standalone' exchange only: the mean training loss of the last few local steps (the bench's check that it trains). */
  | { type: 'local-loss'; loss: number; steps: number }
  /** Something the engine could not recover from (the page shows it and fails tests). */
  | { type: 'fatal'; message: string }
  /** Open a peer connection to a neighbouring stage; the initiator (stage k toward k + 1) opens the data channel and offers. */
  | { type: 'peer-open'; replicaId: string; peer: string; initiator: boolean }
  /** A neighbour's signal, from the coordinator. */
  | { type: 'peer-signal'; replicaId: string; peer: string; signal: PeerSignal }
  /** A frame for `peer` over its data channel, its buffer transferred. */
  | { type: 'peer-send'; replicaId: string; peer: string; frame: ArrayBuffer }
  /** The replica is gone: close its peer connections. */
  | { type: 'peer-close'; replicaId: string };
