/**
 * One socket's side of the process's push slots (push-slots.ts): whether it was told to
 * ask for slots, the word each answer about load carries (`slots: true` when the next
 * push needs one), the verdict on a push as it arrives, and its grants. The
 * coordinator's /worker namespace and a ps task's /ps-worker namespace keep one per socket.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { SlotGrant } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { PushSlots, SlotVerdict } from './push-slots.js';

export class SocketSlots {
  /** This socket's last answer about load said `slots: true`, or it asked for a slot: a push without a grant from now on is refused. */
  private told = false;

  constructor(
    private readonly slots: PushSlots,
    private readonly socketId: string,
  ) {}

  /** An answer about load (accepted, or BUSY) says whether the next push of `bytes` needs a slot; other refusals say nothing. */
  word<T extends object>(r: Result<T>, bytes: number): Result<T> {
    if (!(r.ok || r.code === ErrorCode.BUSY)) return r;
    this.told = this.slots.required(bytes);
    return this.told ? { ...r, slots: true } : r;
  }

  /** A push of `bytes` arriving with `slot` (or none): 'refused' is to be answered with refusal() before anything changes. */
  admit(jobId: string, bytes: number, slot: string | undefined): SlotVerdict {
    return this.slots.admit(this.socketId, jobId, bytes, slot, this.told);
  }

  /** The answer to a push without the grant its socket was told to ask for: the same push with a grant is as good as new. */
  refusal(): Failure {
    return { ...fail(ErrorCode.BUSY, 'The parameter server is busy: ask grads:slot for a slot, then send the same push with it'), retryAfterMs: 0, slots: true };
  }

  /** A slot for one push of `bytes` on `jobId`, or BUSY with when to ask again. */
  grant(jobId: string, bytes: number): Result<SlotGrant> {
    // It speaks slots: from now on a push of it without one is not a mistake of timing.
    this.told = true;
    const g = this.slots.grant(this.socketId, jobId, bytes);
    return 'ok' in g ? { ...g, slots: true } : ok(g);
  }

  /** The socket is gone: its grants' slots are free. */
  release(): void {
    this.slots.release(this.socketId);
  }
}
