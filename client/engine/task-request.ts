/**
 * One request to a ps task over its `/ps-worker` socket, answered with a Result: sent
 * only on a live connection (socket.io would otherwise queue it and deliver it after
 * its answer was given up on), and PS_TASK_UNREACHABLE when the socket does not connect
 * or the task does not answer within `timeoutMs`. The data-parallel transport
 * (ps-transport.ts) and a stage's (stage-ps-transport.ts) both ask through it.
 */
import type { Socket } from 'socket.io-client';
import { ErrorCode } from '../../shared/errors.js';
import type { PsServerEvents, PsWorkerEvents } from '../../shared/ps-protocol.js';
import { fail } from '../../shared/result.js';

export type PsWorkerSocket = Socket<PsServerEvents, PsWorkerEvents>;

type AckOf<E extends keyof PsWorkerEvents> = Parameters<Parameters<PsWorkerEvents[E]>[1]>[0];

export async function askTask<E extends keyof PsWorkerEvents>(socket: PsWorkerSocket, event: E, req: Parameters<PsWorkerEvents[E]>[0], task: number, timeoutMs: number): Promise<AckOf<E>> {
  const unreachable = (why: string) => fail(ErrorCode.PS_TASK_UNREACHABLE, `ps task ${task} ${why}`) as AckOf<E>;
  if (!socket.connected && !(await connectedWithin(socket, timeoutMs))) return unreachable(`is not connected (waited ${timeoutMs} ms)`);
  // One event at a time: socket.io's typed emit cannot follow a generic event name.
  const timed = socket.timeout(timeoutMs) as unknown as { emitWithAck(e: E, m: unknown): Promise<AckOf<E>> };
  return timed.emitWithAck(event, req).catch(() => unreachable(`did not answer ${event} within ${timeoutMs} ms`));
}

/** Whether `socket` connects (a first connection, or socket.io's reconnection) within `timeoutMs`. */
function connectedWithin(socket: PsWorkerSocket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const connected = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      socket.off('connect', connected);
      resolve(false);
    }, timeoutMs);
    socket.once('connect', connected);
  });
}
