/**
 * Fencing the chief. Every control message a ps task takes carries a chief credential:
 * the chief's epoch (a number that only grows: each new chief, e.g. a restarted
 * coordinator or one that won the chief lease, holds a higher one) and a proof,
 * HMAC-SHA256(controlKey, ["dpc1", epoch, event, jobId]). A task refuses a proof that
 * does not verify (UNAUTHORIZED: a stranger cannot even raise the epoch), refuses an
 * epoch older than the highest it has seen (STALE_CHIEF: a deposed chief that still
 * runs cannot undo its successor's work), and adopts a newer one.
 *
 * The proof binds the action and the job, so a proof seen on the wire only repeats that
 * same action on that same job; the token never crosses the wire, so nobody who
 * listens can sign tickets. Privacy of the channel itself is TLS's job (docs/cluster.md).
 */
import { ErrorCode } from '../../shared/errors.js';
import type { ChiefCredential } from '../../shared/ps-protocol.js';
import { fail, type Failure } from '../../shared/result.js';
import { mac, macEquals, type ClusterKeys } from './cluster-keys.js';

const VERSION = 'dpc1';
const BASE64URL_MAC = /^[A-Za-z0-9_-]{43}$/;

function proofMessage(epoch: number, event: string, jobId: string | null): string {
  return JSON.stringify([VERSION, epoch, event, jobId]);
}

/** The chief's side: the credential for one control message. */
export function chiefCredential(keys: ClusterKeys, epoch: number, event: string, jobId: string | null = null): ChiefCredential {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError(`A chief epoch is a positive integer, got ${epoch}`);
  return { epoch, proof: mac(keys.controlKey, proofMessage(epoch, event, jobId)).toString('base64url') };
}

/** The task's side: the highest chief epoch seen, and the check every control message passes first. */
/** Where a task keeps its highest epoch across restarts (server/ps-task/chief-epoch-file.ts). */
export interface EpochStore {
  read(): number;
  /** Durable before it returns; throws when it cannot be. */
  write(epoch: number): void;
}

export class ChiefFence {
  private highestEpoch: number;

  constructor(
    private readonly keys: ClusterKeys,
    private readonly store: EpochStore | null = null,
  ) {
    this.highestEpoch = store?.read() ?? 0;
  }

  /** 0 until a chief has proved itself. */
  get epoch(): number {
    return this.highestEpoch;
  }

  /** Checks `credential` for `event` on `jobId` (null for task-wide events); adopts a newer epoch. */
  admit(credential: ChiefCredential, event: string, jobId: string | null): { epoch: number } | Failure {
    const { epoch, proof } = credential;
    if (!Number.isSafeInteger(epoch) || epoch < 1 || !BASE64URL_MAC.test(proof)) return fail(ErrorCode.UNAUTHORIZED, 'Not a chief credential');
    const expected = mac(this.keys.controlKey, proofMessage(epoch, event, jobId));
    if (!macEquals(expected, Buffer.from(proof, 'base64url'))) return fail(ErrorCode.UNAUTHORIZED, 'Control message not signed by this cluster');
    if (epoch < this.highestEpoch) {
      return fail(ErrorCode.STALE_CHIEF, `Chief epoch ${epoch} is older than ${this.highestEpoch}: a newer chief has taken over this task`);
    }
    if (epoch > this.highestEpoch && this.store) {
      // Durable first: a task that acted on the new chief and then restarted must not take the old one back.
      try {
        this.store.write(epoch);
      } catch {
        return fail(ErrorCode.INTERNAL, `Chief epoch ${epoch} could not be recorded on this task's disk`);
      }
    }
    this.highestEpoch = epoch;
    return { epoch };
  }
}
