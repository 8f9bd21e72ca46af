/**
 * A frame over a WebRTC data channel (docs/model-parallelism.md): Chromium's SCTP
 * messages stop at 256 KiB and large ones stall the channel for everyone behind them,
 * so a frame over CHUNK_BYTES goes as a text message announcing its length, then its
 * bytes in slices of at most CHUNK_BYTES (views of the frame, not copies); a frame that
 * fits goes as one binary message. The channel is ordered and reliable, so the
 * receiver copies the slices into one buffer (the one copy) and has the frame when
 * the announced length is reached. Anything else (a length over the bound, a slice
 * past it, a new announcement mid-frame) is a broken channel: the caller closes it.
 */
import { ErrorCode } from './errors.js';
import { MAX_RELAY_FRAME_BYTES } from './replica-protocol.js';
import { fail, type Failure } from './result.js';

/** The largest message sent on a data channel. */
export const CHUNK_BYTES = 64 * 1024;
const ANNOUNCE = 'DPF1 ';

/** The messages that carry `frame`, in order. */
export function chunksOf(frame: Uint8Array, chunkBytes = CHUNK_BYTES): (string | Uint8Array)[] {
  if (frame.byteLength <= chunkBytes) return [frame];
  const out: (string | Uint8Array)[] = [ANNOUNCE + frame.byteLength];
  for (let at = 0; at < frame.byteLength; at += chunkBytes) out.push(frame.subarray(at, Math.min(at + chunkBytes, frame.byteLength)));
  return out;
}

export class FrameAssembler {
  private pending: { bytes: Uint8Array; filled: number } | null = null;

  constructor(
    private readonly maxFrameBytes = MAX_RELAY_FRAME_BYTES,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  /** One message from the channel: a whole frame, null while one is being assembled, or why the channel is broken. */
  push(message: string | ArrayBuffer | Uint8Array): Uint8Array | null | Failure {
    if (typeof message === 'string') {
      if (this.pending) return fail(ErrorCode.BAD_REQUEST, `A frame announced while ${this.pending.bytes.byteLength - this.pending.filled} bytes of the last one are missing`);
      const length = message.startsWith(ANNOUNCE) ? Number(message.slice(ANNOUNCE.length)) : NaN;
      if (!Number.isInteger(length) || length <= this.chunkBytes || length > this.maxFrameBytes) {
        return fail(ErrorCode.BAD_REQUEST, `A frame announcement must give a length over ${this.chunkBytes} and at most ${this.maxFrameBytes} bytes: ${JSON.stringify(message.slice(0, 40))}`);
      }
      this.pending = { bytes: new Uint8Array(length), filled: 0 };
      return null;
    }
    const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
    if (!this.pending) {
      if (bytes.byteLength > this.chunkBytes) return fail(ErrorCode.PAYLOAD_TOO_LARGE, `An unannounced message of ${bytes.byteLength} bytes (at most ${this.chunkBytes})`);
      return bytes;
    }
    const p = this.pending;
    if (bytes.byteLength > this.chunkBytes || p.filled + bytes.byteLength > p.bytes.byteLength) {
      return fail(ErrorCode.PAYLOAD_TOO_LARGE, `A slice of ${bytes.byteLength} bytes past the announced ${p.bytes.byteLength} (${p.filled} filled)`);
    }
    p.bytes.set(bytes, p.filled);
    p.filled += bytes.byteLength;
    if (p.filled < p.bytes.byteLength) return null;
    this.pending = null;
    return p.bytes;
  }
}
