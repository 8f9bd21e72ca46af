/**
 * Connections that say nothing: Node's HTTP server keeps a socket that never sends a
 * request, or stops halfway through its headers (an upgrade that never completes), open
 * for ever (server.timeout is 0; headersTimeout did not close either within 150 s here).
 * Many such half-open sockets hold a descriptor and buffers each until the process runs
 * out. A socket silent for `ms` is destroyed. A websocket is not cut by it: ws clears the
 * socket's timeout when it takes the connection over, and engine.io pings it.
 */
import type { Server as HttpServer } from 'node:http';

/** Past the coordinator's keepAliveTimeout (65 s): an idle keep-alive connection ends by that first. */
export const IDLE_SOCKET_MS = 70_000;

export function closeIdleSockets(server: HttpServer, ms = IDLE_SOCKET_MS): void {
  if (!(ms > 0)) throw new RangeError(`idleSocketMs must be positive, got ${ms}`);
  // With no 'timeout' listener on the server, the request or the response, Node destroys the socket.
  server.timeout = ms;
}
