/** The worker's typed socket.io connection and request helper. */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/protocol.js';
import { WORKER_NAMESPACE } from '../../shared/protocol.js';

export type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function connectWorker(origin?: string): WorkerSocket {
  const url = (origin ?? '') + WORKER_NAMESPACE;
  // WebSocket only: long-polling would carry every tensor payload as an HTTP body.
  const socket: WorkerSocket = io(url, { transports: ['websocket'], reconnectionDelayMax: 5000 });
  socket.on('disconnect', () => {
    // Requests of the old session must not be replayed against a new one.
    socket.sendBuffer = [];
  });
  return socket;
}

export class ConnectionLost extends Error {
  constructor() {
    super('connection to the coordinator lost');
    this.name = 'ConnectionLost';
  }
}
