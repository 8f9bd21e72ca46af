import type { ErrorCode } from './errors.js';

/** A refusal: nothing throws across the wire, every failure is one of these. */
export interface Failure {
  ok: false;
  code: ErrorCode;
  message: string;
  /** BUSY only: the server's hint, in ms, of how long to wait before sending again. */
  retryAfterMs?: number;
  /** BUSY only: ask `grads:slot` before the next push (server/params/push-slots.ts). */
  slots?: true;
}

/** Acknowledgement payloads: `{ok: true, …fields}` or a coded {@link Failure}. */
export type Result<T extends object = object> = ({ ok: true } & T) | Failure;

export function ok<T extends object>(fields: T): { ok: true } & T {
  return { ok: true, ...fields };
}

export function fail(code: ErrorCode, message: string): Failure {
  return { ok: false, code, message };
}
