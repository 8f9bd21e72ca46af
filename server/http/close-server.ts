/**
 * Stops an HTTP server without letting a client hold the stop. `server.close()` alone
 * closes idle keep-alive connections but waits for every request still in flight, for as
 * long as its client likes: half-sent headers wait for the headers timeout (66 s), a body
 * trickled a byte at a time for ever (a hostile client; server/test/close-stalled-client).
 * What is in flight gets `drainMs` on `clock` to finish, then its connection is cut (a
 * worker re-fetches its shard, an operator re-sends an upload; nothing half-received is
 * state: uploads are written to a temporary file and renamed only when complete).
 */
import type { Server } from 'node:http';
import type { Clock } from '../clock.js';

/** How long responses in flight may take to finish once a server stops. */
export const HTTP_DRAIN_MS = 2000;

export function closeServer(server: Server, clock: Clock, drainMs = HTTP_DRAIN_MS): Promise<void> {
  return new Promise((resolve) => {
    const cut = clock.setTimeout(() => server.closeAllConnections(), drainMs);
    server.close(() => {
      clock.clear(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
