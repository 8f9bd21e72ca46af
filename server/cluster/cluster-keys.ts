/**
 * The keys a cluster derives from its one shared secret, the cluster token: one signs
 * workers' tickets, one proves the chief's control messages, one signs tasks' push receipts. Each is
 * HMAC-SHA256(token, purpose), so a MAC made for one purpose never verifies for the
 * other, and the token itself never crosses the wire. HMAC, not SHA-256(key ‖ message):
 * a MAC cannot be extended into one over a longer message.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** 24 random bytes in base64url are 32 characters; a shorter token is refused. */
export const MIN_CLUSTER_TOKEN_LENGTH = 32;
/** What a token may be written with: base64, base64url or hex, as generated or pasted. */
const TOKEN_CHARS = /^[A-Za-z0-9+/=_-]+$/;

export interface ClusterKeys {
  /** Signs and checks tickets (server/cluster/tickets.ts). */
  readonly ticketKey: Buffer;
  /** Signs and checks chief credentials (server/cluster/chief-fence.ts). */
  readonly controlKey: Buffer;
  /** Signs a task's receipts for the pushes it applied, which the chief checks before crediting (server/cluster/push-receipts.ts). */
  readonly receiptKey: Buffer;
}

/** Why `token` cannot be a cluster token, or null when it can. */
export function clusterTokenProblem(token: string): string | null {
  if (token.length < MIN_CLUSTER_TOKEN_LENGTH) return `a cluster token has at least ${MIN_CLUSTER_TOKEN_LENGTH} characters, this one ${token.length}`;
  if (!TOKEN_CHARS.test(token)) return 'a cluster token is written in base64, base64url or hex characters';
  return null;
}

export function deriveClusterKeys(token: string): ClusterKeys {
  const problem = clusterTokenProblem(token);
  if (problem) throw new RangeError(problem);
  const derive = (purpose: string) => createHmac('sha256', token).update(purpose).digest();
  return { ticketKey: derive('downpour ps ticket v1'), controlKey: derive('downpour ps control v1'), receiptKey: derive('downpour ps receipt v1') };
}

/** HMAC-SHA256 of `message` under `key`. */
export function mac(key: Buffer, message: string): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

/** Whether two MACs are equal, in time that does not depend on where they differ. */
export function macEquals(expected: Buffer, given: Buffer): boolean {
  // Lengths are public (a MAC is always 32 bytes); timingSafeEqual requires them equal.
  return given.length === expected.length && timingSafeEqual(expected, given);
}
