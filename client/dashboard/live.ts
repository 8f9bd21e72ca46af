/**
 * The live `/operator` socket: feeds the store and reports the connection state.
 * socket.io does not retry a connection its server middleware refused, so a refusal
 * is checked against REST: a token the server no longer accepts signs the operator
 * out; anything else is retried.
 */
import { io, type Socket } from 'socket.io-client';
import {
  OPERATOR_NAMESPACE,
  type OperatorClientToServerEvents,
  type OperatorServerToClientEvents,
} from '../../shared/operator-protocol.js';
import type { DashboardStore } from './store.js';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; reason: string }
  | { kind: 'closed' };

export interface LiveOptions {
  token: string;
  store: DashboardStore;
  onState(state: ConnectionState): void;
  /** Resolves false when the server no longer accepts the token (POST /api/auth/check → 401). */
  tokenStillValid(): Promise<boolean>;
  onAuthFailure(): void;
}

const RETRY_AFTER_REFUSAL_MS = 3000;

/** The `/operator` events that write the store (also used by the server tests, with a Node socket). */
export function feedStore(socket: Pick<Socket<OperatorServerToClientEvents>, 'on'>, store: DashboardStore): void {
  socket.on('dashboard:init', (s) => store.init(s));
  socket.on('dashboard:tick', (s) => store.tick(s));
  socket.on('job:added', (job) => store.upsertJob(job));
  socket.on('job:eval', (e) => store.addEval(e.jobId, e.record));
}

export class LiveConnection {
  private readonly socket: Socket<OperatorServerToClientEvents, OperatorClientToServerEvents>;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(private readonly options: LiveOptions) {
    const { store } = options;
    this.socket = io(OPERATOR_NAMESPACE, { auth: { token: options.token }, transports: ['websocket'] });
    options.onState({ kind: 'connecting' });
    this.socket.on('connect', () => options.onState({ kind: 'connected' }));
    this.socket.on('disconnect', (reason) => {
      if (this.closed) return;
      // "io server disconnect" is the server hanging up on us; socket.io will not retry it.
      if (!this.socket.active) this.scheduleRetry();
      options.onState({ kind: 'reconnecting', reason });
    });
    this.socket.on('connect_error', (err) => void this.onConnectError(err));
    feedStore(this.socket, store);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket.removeAllListeners();
    this.socket.disconnect();
    this.options.onState({ kind: 'closed' });
  }

  private async onConnectError(err: Error): Promise<void> {
    if (this.closed) return;
    this.options.onState({ kind: 'reconnecting', reason: err.message });
    // An active socket is retrying a transport error by itself; only a refusal needs us.
    if (this.socket.active) return;
    if (!(await this.options.tokenStillValid())) {
      this.options.onAuthFailure();
      return;
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) this.socket.connect();
    }, RETRY_AFTER_REFUSAL_MS);
  }
}
