/** What the engine tells the page (and tests, through window.downpour). */
import type { AdapterInfo, BackendName } from '../../shared/protocol.js';

export type EngineState =
  | 'stopped'
  | 'connecting'
  | 'waiting-for-job'
  | 'selecting-backend'
  | 'training'
  | 'paused'
  | 'error';

export interface EngineStatus {
  state: EngineState;
  message: string | null;
  workerId: string | null;
  jobId: string | null;
  jobName: string | null;
  backend: BackendName | null;
  adapter: AdapterInfo | null;
  webgpuUnavailable: string | null;
  measured: Partial<Record<BackendName, number | string>>;
  examplesPerSecond: number;
  /** Examples whose gradients the PS accepted. */
  examplesContributed: number;
  batches: number;
  pushesAccepted: number;
  pushesRejected: Record<string, number>;
  lastRejection: string | null;
  /** Parameter version of the last pull. */
  version: number;
  shardsCompleted: number;
  numTensors: number;
}

export function initialStatus(): EngineStatus {
  return {
    state: 'stopped',
    message: null,
    workerId: null,
    jobId: null,
    jobName: null,
    backend: null,
    adapter: null,
    webgpuUnavailable: null,
    measured: {},
    examplesPerSecond: 0,
    examplesContributed: 0,
    batches: 0,
    pushesAccepted: 0,
    pushesRejected: {},
    lastRejection: null,
    version: 0,
    shardsCompleted: 0,
    numTensors: 0,
  };
}
