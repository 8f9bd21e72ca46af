/**
 * Bytes the server holds for a socket's peer that the peer has not read: what engine.io
 * keeps while its transport waits for its last send to drain, and what the websocket
 * has handed a kernel buffer that is full and Node keeps the rest of. A peer that stops
 * reading (and answers pings blindly) would otherwise have every answer to its requests,
 * and every frame its neighbour relays, kept in the process's memory until it ran out:
 * the rate limit bounds messages, not the bytes answered.
 *
 * Counted as packets are queued (engine.io's `packetCreate`) and handed to the transport
 * (`flush`), so each packet costs a constant, not a walk of the queue; past the bound
 * the socket is disconnected, on the next turn (not inside engine.io's send).
 */
import type { Socket } from 'socket.io';

/** What is read of engine.io's socket: its events, and the websocket under its transport. */
interface EngineSocket {
  on(event: 'packetCreate', listener: (packet: { data?: unknown }) => void): void;
  on(event: 'flush', listener: (packets: readonly { data?: unknown }[]) => void): void;
  off(event: 'packetCreate' | 'flush', listener: (...args: never[]) => void): void;
  transport?: { socket?: { bufferedAmount?: number } };
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

const unreadOf = new WeakMap<Socket, () => number>();

/** Keeps count of what is held unread for `socket`'s peer; `over` is called once it passes `bound`. */
export function watchUnread(socket: Socket, bound: number, over: (unread: number) => void): void {
  const engine = socket.conn as unknown as EngineSocket;
  let queued = 0;
  let told = false;
  const unread = () => queued + (engine.transport?.socket?.bufferedAmount ?? 0);
  unreadOf.set(socket, unread);
  const created = (packet: { data?: unknown }) => {
    queued += sizeOf(packet.data);
    if (told || unread() <= bound) return;
    told = true;
    const n = unread();
    setImmediate(() => over(n));
  };
  const flushed = (packets: readonly { data?: unknown }[]) => {
    for (const p of packets) queued -= sizeOf(p.data);
  };
  engine.on('packetCreate', created);
  engine.on('flush', flushed);
  // One connection carries a socket per namespace joined, and may join and leave again and again: each leaves no listener behind.
  socket.once('disconnect', () => {
    engine.off('packetCreate', created);
    engine.off('flush', flushed);
  });
}

/** Bytes held unread for `socket`'s peer (0 for a socket not watched). */
export function unreadBytes(socket: Socket): number {
  return unreadOf.get(socket)?.() ?? 0;
}
