/**
 * Connections one address may hold at once. Every open TCP connection costs the process
 * a descriptor and buffers, whatever it says (a websocket, a keep-alive, a half-open
 * socket waiting out idle-sockets.ts's 70 s): without a cap one host could open enough of
 * them to exhaust the process's descriptors and lock every volunteer out. The coordinator
 * and every ps task cap their own listener: a worker connects to both, so either is as
 * exposed to a hostile host (a task out of descriptors loses its job's workers). A connection
 * over its address's cap is answered 503 with a coded body and closed before anything of
 * it is parsed; the address's other connections are untouched, and it may connect again
 * once one of them closes.
 *
 * Counted by the peer's IP address (an IPv6 one by its /64) at the TCP level, so behind
 * a reverse proxy every client is the proxy: raise the cap there, or set it to 0 (no cap)
 * and let the proxy cap its clients. An honest host holds a websocket per tab and a few keep-alive HTTP
 * connections, so the default leaves a farm of hundreds of tabs behind one address
 * (docs/farm.md) room.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode } from '../../shared/errors.js';
import { createLogger } from '../logger.js';

const log = createLogger('connection-cap');

export const DEFAULT_CONNECTIONS_PER_ADDRESS = 1024;

/**
 * The key a connection counts under: an IPv4 address (IPv4-mapped IPv6 too) as it is, an
 * IPv6 address by its /64, since one host or LAN is handed a whole /64 and may speak from
 * any address in it.
 */
export function addressKey(remote: string | undefined): string {
  const a = (remote ?? 'unknown').split('%')[0]!; // a zone (fe80::1%eth0) names the interface, not the host
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // "::" stands for as many zero groups as the address is short of eight.
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

/** 503 with a coded body, then closed; nothing the peer sent is read. */
function refuse(socket: Socket, max: number, server: string): void {
  const body = JSON.stringify({ code: ErrorCode.TOO_MANY_CONNECTIONS, message: `This address already holds ${max} connections to ${server}: close one and retry` });
  socket.on('error', () => {}); // a peer gone before it reads the answer is no matter
  socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 10\r\nConnection: close\r\n\r\n${body}`);
  socket.destroySoon();
}

/**
 * Call once the server's own 'connection' listeners are in place (right after createServer).
 * `name` is what the refusal and the log call the server ("the coordinator", "this ps task"):
 * a worker holds connections to several, and its operator should see which one refused.
 */
export function capConnectionsPerAddress(server: HttpServer, max = DEFAULT_CONNECTIONS_PER_ADDRESS, name = 'this server'): void {
  if (!Number.isInteger(max) || max < 0) throw new RangeError(`connectionsPerAddress must be a whole number ≥ 0 (0: no cap), got ${max}`);
  if (max === 0) return;
  const live = new Map<string, number>();
  let refused = 0;
  // The server's own listeners (the HTTP parser) run only for an admitted socket: a refused one is never parsed.
  const inner = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = addressKey(socket.remoteAddress);
    const n = live.get(address) ?? 0;
    if (n >= max) {
      refused++;
      if (refused === 1 || refused % 1000 === 0) log.warn("connections over their address's cap refused", { server: name, address, max, refused });
      refuse(socket, max, name);
      return;
    }
    live.set(address, n + 1);
    socket.once('close', () => {
      const left = (live.get(address) ?? 1) - 1;
      if (left > 0) live.set(address, left);
      else live.delete(address);
    });
    for (const listener of inner) listener.call(server, socket);
  });
}
