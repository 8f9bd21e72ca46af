/**
 * Per-socket protection for the worker namespace: a token-bucket rate limit, coded
 * refusals for unknown events, a strike count that disconnects a socket sending
 * mostly garbage, and a bound on what is held for a peer that does not read. Honest workers (a few messages per mini-batch, no malformed ones)
 * never come near either limit.
 */
import type { Socket } from 'socket.io';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import { watchUnread } from './unread-bytes.js';

const log = createLogger('socket-guard');

export interface SocketGuardOptions {
  /** Sustained messages per second one worker socket may send. Default 400. */
  messagesPerSecond?: number;
  /** Messages allowed in a burst above the sustained rate. Default 800. */
  burst?: number;
  /** Misbehaviour refusals within strikeWindowMs after which the socket is disconnected. Default 200. */
  maxStrikes?: number;
  /** Default 10,000 ms. */
  strikeWindowMs?: number;
  /** Bytes held unread for the socket's peer (unread-bytes.ts) past which it is disconnected. Default DEFAULT_MAX_UNREAD_BYTES. */
  maxUnreadBytes?: number;
}

/**
 * A peer that does not read what it is sent is disconnected past this many bytes held for
 * it: four of the largest messages the coordinator sends (a pull of the largest model,
 * 16 MB), more than an honest worker ever has on its way, even on a slow link.
 */
export const DEFAULT_MAX_UNREAD_BYTES = 64 * 1024 * 1024;

function cut(socket: Socket, unread: number, bound: number): void {
  if (!socket.connected) return;
  log.warn('disconnecting a worker socket that does not read what it is sent', { socket: socket.id, unread, bound });
  socket.disconnect(true);
}

/** Refusals that an honest worker never causes. STALE, JOB_NOT_RUNNING and the like are normal life. */
const MISBEHAVIOUR = new Set<string>([
  ErrorCode.BAD_REQUEST,
  ErrorCode.UNKNOWN_EVENT,
  ErrorCode.RATE_LIMITED,
  ErrorCode.UNKNOWN_CODEC,
  ErrorCode.TENSOR_MISMATCH,
  ErrorCode.SHAPE_MISMATCH,
  ErrorCode.DTYPE_MISMATCH,
  ErrorCode.BYTE_LENGTH_MISMATCH,
  ErrorCode.NON_FINITE,
  ErrorCode.FUTURE_VERSION,
  ErrorCode.PAYLOAD_TOO_LARGE,
]);

export interface SocketGuard {
  /** Told of every refusal sent to this socket; misbehaviour counts as a strike. */
  refused(code: string): void;
  /** Misbehaviour that its refusal's code does not show (a push without the slot it was told to ask for, answered BUSY). */
  strike(reason: string): void;
}

export function guardSocket(socket: Socket, knownEvents: ReadonlySet<string>, o: SocketGuardOptions = {}, now: () => number = Date.now): SocketGuard {
  const rate = o.messagesPerSecond ?? 400;
  const burst = o.burst ?? 800;
  const maxStrikes = o.maxStrikes ?? 200;
  const windowMs = o.strikeWindowMs ?? 10_000;
  let tokens = burst;
  let refilledAt = now();
  const strikes: number[] = [];
  const maxUnread = o.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES;
  watchUnread(socket, maxUnread, (unread) => cut(socket, unread, maxUnread));

  const guard: SocketGuard = {
    refused(code) {
      if (MISBEHAVIOUR.has(code)) guard.strike(code);
    },
    strike(reason) {
      if (!socket.connected) return;
      const t = now();
      strikes.push(t);
      while (strikes.length && t - strikes[0]! > windowMs) strikes.shift();
      if (strikes.length > maxStrikes) {
        log.warn('disconnecting a misbehaving worker socket', { socket: socket.id, strikes: strikes.length, last: reason });
        socket.disconnect(true);
      }
    },
  };

  socket.use(([event, ...args], next) => {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (r: unknown) => void) : null;
    const t = now();
    tokens = Math.min(burst, tokens + ((t - refilledAt) / 1000) * rate);
    refilledAt = t;
    let refusal: ReturnType<typeof fail> | null = null;
    if (!knownEvents.has(String(event))) refusal = fail(ErrorCode.UNKNOWN_EVENT, `Unknown event "${String(event).slice(0, 60)}"`);
    else if (tokens < 1) refusal = fail(ErrorCode.RATE_LIMITED, `More than ${rate} messages per second`);
    else tokens -= 1;
    if (!refusal) return next();
    ack?.(refusal);
    guard.refused(refusal.code);
  });
  return guard;
}
