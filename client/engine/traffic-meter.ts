/**
 * The bytes this worker moves, both ways: every message on its socket (pushes, pulls,
 * leases, completions, reports, heartbeats) and every shard download. The page shows
 * them; the data cap (data-cap.ts) spends them.
 *
 * A socket message is counted as the WebSocket frame that carries it: the engine.io
 * packet (socket.io's own framing included: the event name, the ack id, the JSON of the
 * non-binary fields; a binary attachment is a frame of its own) plus the frame header,
 * 2–14 bytes. That is what the browser hands to the network, and it is exact for every
 * message, since each engine.io packet is one frame (no compression: the coordinator
 * leaves per-message deflate off). A shard download counts its body; HTTP headers
 * (a few hundred bytes against ~800 kB of examples) and TCP/IP/TLS are not counted:
 * the browser does not expose them, and a link's own counters (bench/netns-link.ts)
 * show them as the difference.
 */
import type { Socket } from 'socket.io-client';

export type Direction = 'sent' | 'received';

/** Bytes each way. */
export interface Traffic {
  sent: number;
  received: number;
}

export interface TrafficMeterOptions {
  /** Milliseconds, monotonic. Default: performance.now. */
  now?: () => number;
  /** The span the per-second rates are averaged over. Default: 5000 ms. */
  windowMs?: number;
}

export class TrafficMeter {
  /** Since the meter was made (the engine's session: a page load). */
  readonly total: Traffic = { sent: 0, received: 0 };
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly recent: { at: number; direction: Direction; bytes: number }[] = [];
  private readonly startedAt: number;
  private readonly listeners: ((bytes: number, direction: Direction) => void)[] = [];

  constructor(o: TrafficMeterOptions = {}) {
    this.now = o.now ?? (() => performance.now());
    this.windowMs = o.windowMs ?? 5000;
    this.startedAt = this.now();
  }

  count(direction: Direction, bytes: number): void {
    if (!(bytes > 0)) return;
    this.total[direction] += bytes;
    this.recent.push({ at: this.now(), direction, bytes });
    this.trim();
    for (const l of this.listeners) l(bytes, direction);
  }

  /** Called with every count (the data cap's spending). */
  onBytes(listener: (bytes: number, direction: Direction) => void): void {
    this.listeners.push(listener);
  }

  /** Bytes per second each way over the last window (or since the meter started, if shorter). */
  perSecond(): Traffic {
    this.trim();
    const span = Math.min(this.windowMs, this.now() - this.startedAt);
    const out = { sent: 0, received: 0 };
    if (span <= 0) return out;
    for (const r of this.recent) out[r.direction] += r.bytes;
    return { sent: (out.sent * 1000) / span, received: (out.received * 1000) / span };
  }

  private trim(): void {
    const from = this.now() - this.windowMs;
    let drop = 0;
    while (drop < this.recent.length && this.recent[drop]!.at < from) drop++;
    if (drop) this.recent.splice(0, drop);
  }
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one 4-byte character
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * Bytes of the WebSocket frame that carries one engine.io packet: a text packet is its
 * type digit and its data, a binary packet its bytes; the header is 2 bytes, 2 or 8 more
 * for longer payloads, and 4 for the mask a client puts on every frame it sends.
 */
export function frameBytes(data: unknown, direction: Direction): number {
  let payload: number;
  if (typeof data === 'string') payload = 1 + utf8Length(data);
  else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) payload = data.byteLength;
  else payload = 1; // ping, pong, close: the type digit alone
  const length = payload < 126 ? 0 : payload < 65_536 ? 2 : 8;
  return payload + 2 + length + (direction === 'sent' ? 4 : 0);
}

interface EnginePacket {
  type: string;
  data?: unknown;
}
interface MeteredEngine {
  on(event: 'packetCreate' | 'packet', fn: (packet: EnginePacket) => void): unknown;
}

/** Counts every packet of `socket`'s connection, and of each reconnection's. */
export function meterSocket(socket: Socket, meter: TrafficMeter): void {
  const attach = () => {
    const engine = socket.io.engine as unknown as MeteredEngine;
    engine.on('packetCreate', (p) => meter.count('sent', frameBytes(p.data, 'sent')));
    engine.on('packet', (p) => meter.count('received', frameBytes(p.data, 'received')));
  };
  // io() opens its connection when made, and the manager says 'open' once it is up (the handshake, ~100 bytes, before it).
  socket.io.on('open', attach);
}
