/**
 * Tickets: the chief's short-lived permission for worker W to push and pull job J's
 * slices on ps task T. A ps task checks one on every worker message, so a stranger who
 * connects to a task directly can change nothing. A ticket is
 * `base64url(payload).base64url(HMAC-SHA256(ticketKey, base64url(payload)))` where the
 * payload is the canonical JSON array `["dpt1", task, job, worker, expires]` (expires
 * in Unix ms from the chief's clock). The MAC covers the payload exactly as sent, so
 * it is checked before anything of the payload is parsed, and no second spelling of
 * the same bytes verifies.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { mac, macEquals, type ClusterKeys } from './cluster-keys.js';

/** Tickets last this long unless the signer says otherwise: the chief renews them with each assignment. */
export const DEFAULT_TICKET_TTL_MS = 10 * 60_000;
/** Far above any real ticket (ids are at most 128 characters); longer input is refused before any work. */
export const MAX_TICKET_LENGTH = 1024;
const VERSION = 'dpt1';
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const MAC_BYTES = 32;

/** Whose ticket it is and what it allows. */
export interface TicketGrant {
  worker: string;
  job: string;
  task: number;
  /** Unix ms: refused from this instant on. */
  expires: number;
}

export interface TicketSignerOptions {
  /** Default DEFAULT_TICKET_TTL_MS (10 minutes). */
  ttlMs?: number;
}

/** The chief's side. `now` is the chief's clock (server/clock.ts). */
export class TicketSigner {
  private readonly ttlMs: number;

  constructor(
    private readonly keys: ClusterKeys,
    private readonly now: () => number,
    options: TicketSignerOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TICKET_TTL_MS;
    if (!(this.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${this.ttlMs}`);
  }

  sign(grant: Omit<TicketGrant, 'expires'>): string {
    return signTicket(this.keys, { ...grant, expires: this.now() + this.ttlMs });
  }
}

/** A ticket for exactly `grant` (tests forge and expire tickets with it). */
export function signTicket(keys: ClusterKeys, grant: TicketGrant): string {
  const payload = Buffer.from(JSON.stringify([VERSION, grant.task, grant.job, grant.worker, grant.expires])).toString('base64url');
  return `${payload}.${mac(keys.ticketKey, payload).toString('base64url')}`;
}

/**
 * The task's side: the grant when `ticket` is genuine, unexpired at `now`, and for
 * job `expected.job` on task `expected.task` (undefined: on any task, for a task that
 * does not hold the job and can only say so); otherwise UNAUTHORIZED.
 */
export function verifyTicket(keys: ClusterKeys, ticket: unknown, expected: { job: string; task: number | undefined }, now: number): TicketGrant | Failure {
  const refuse = (why: string) => fail(ErrorCode.UNAUTHORIZED, `Ticket refused: ${why}`);
  if (typeof ticket !== 'string' || ticket.length > MAX_TICKET_LENGTH) return refuse('not a ticket');
  const dot = ticket.indexOf('.');
  const payload = ticket.slice(0, dot);
  const given = ticket.slice(dot + 1);
  if (dot < 0 || !BASE64URL.test(payload) || !BASE64URL.test(given)) return refuse('not a ticket');
  const givenMac = Buffer.from(given, 'base64url');
  // Re-encoding must give the text back: base64url has no second spelling of a MAC that verifies.
  if (givenMac.length !== MAC_BYTES || givenMac.toString('base64url') !== given) return refuse('not a ticket');
  if (!macEquals(mac(keys.ticketKey, payload), givenMac)) return refuse('not signed by this cluster');

  const grant = grantOf(Buffer.from(payload, 'base64url').toString('utf8'));
  if (!grant) return refuse('not a ticket');
  if (grant.job !== expected.job || (expected.task !== undefined && grant.task !== expected.task)) {
    return refuse(`it is for job ${grant.job} on task ${grant.task}, not job ${expected.job}${expected.task === undefined ? '' : ` on task ${expected.task}`}`);
  }
  if (now >= grant.expires) return refuse(`expired ${new Date(grant.expires).toISOString()}`);
  return grant;
}

/** A signed payload is ours, but its shape is still checked: a key shared with a buggy chief must not crash a task. */
function grantOf(text: string): TicketGrant | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 5) return null;
  const [version, task, job, worker, expires] = v as unknown[];
  if (version !== VERSION || !Number.isSafeInteger(task) || typeof job !== 'string' || typeof worker !== 'string' || !Number.isSafeInteger(expires)) return null;
  return { task: task as number, job, worker, expires: expires as number };
}
