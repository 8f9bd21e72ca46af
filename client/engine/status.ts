/** What the engine tells the page (and tests, through window.downpour). */
import type { AdapterInfo, BackendName } from '../../shared/protocol.js';
import type { StagePath } from '../../shared/replica-protocol.js';

/** This tab's part of a model replica (a job split into stages). */
export interface StageStatus {
  replicaId: string;
  /** 0 … of − 1. */
  stage: number;
  of: number;
  /** Its layers, [from, to) of the model's. */
  from: number;
  to: number;
  /** How its frames travel to its neighbours. */
  path: StagePath;
}

export type EngineState =
  | 'stopped'
  | 'connecting'
  | 'waiting-for-job'
  /** The job splits its model over several tabs: this one waits for enough others to form a replica. */
  | 'waiting-for-replica'
  | 'selecting-backend'
  | 'training'
  | 'paused'
  /** The coordinator cannot be reached (down or restarting); the socket keeps retrying. */
  | 'offline'
  | 'error';

export interface EngineStatus {
  state: EngineState;
  message: string | null;
  workerId: string | null;
  jobId: string | null;
  jobName: string | null;
  /** The operator's words to volunteers about the job. */
  jobDescription: string | null;
  backend: BackendName | null;
  adapter: AdapterInfo | null;
  webgpuUnavailable: string | null;
  measured: Partial<Record<BackendName, number | string>>;
  examplesPerSecond: number;
  /** Examples whose gradients the PS accepted. */
  examplesContributed: number;
  batches: number;
  /** Wall-clock seconds spent training (computing plus throttle pauses between batches). */
  secondsTraining: number;
  /** Fraction of wall time the engine computes (the throttle): 0.25, 0.5 or 1. */
  dutyCycle: number;
  pushesAccepted: number;
  pushesRejected: Record<string, number>;
  lastRejection: string | null;
  /** Parameter version of the last pull. */
  version: number;
  shardsCompleted: number;
  numTensors: number;
  /** Bytes this engine has sent and received since the page loaded (traffic-meter.ts says what counts). */
  bytesSent: number;
  bytesReceived: number;
  /** The same, per second over the last few seconds. */
  bytesSentPerSecond: number;
  bytesReceivedPerSecond: number;
  /** The volunteer's data cap, MB per hour both ways; null: none. */
  dataCapMbPerHour: number | null;
  /** The cap is holding the next batch back (the last hour's bytes used it up). */
  heldByDataCap: boolean;
  /** What the throttle saw of the last batch (duty-cycle.ts): its work and the smoothed exchange round trip, ms. */
  throttle: { workMs: number; roundTripMs: number };
  /** Its stage of a model replica; null when it trains the whole model (or waits for a replica). */
  stage: StageStatus | null;
}

export function initialStatus(): EngineStatus {
  return {
    state: 'stopped',
    message: null,
    workerId: null,
    jobId: null,
    jobName: null,
    jobDescription: null,
    backend: null,
    adapter: null,
    webgpuUnavailable: null,
    measured: {},
    examplesPerSecond: 0,
    examplesContributed: 0,
    batches: 0,
    secondsTraining: 0,
    dutyCycle: 1,
    pushesAccepted: 0,
    pushesRejected: {},
    lastRejection: null,
    version: 0,
    shardsCompleted: 0,
    numTensors: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesSentPerSecond: 0,
    bytesReceivedPerSecond: 0,
    dataCapMbPerHour: null,
    heldByDataCap: false,
    throttle: { workMs: 0, roundTripMs: 0 },
    stage: null,
  };
}
