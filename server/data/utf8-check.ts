/**
 * Checks that bytes arriving in pieces are UTF-8 without decoding them: each piece is
 * checked up to its last complete character, and the bytes of a character cut by the
 * piece's end are carried to the next.
 */
import { isUtf8 } from 'node:buffer';

/** Bytes of the sequence a lead byte starts (0 for a continuation byte). */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc0) return 0;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

export class Utf8Check {
  private carry: Uint8Array = new Uint8Array(0);

  /** False as soon as the bytes so far cannot be UTF-8. */
  push(piece: Uint8Array): boolean {
    const bytes = this.carry.length ? Buffer.concat([this.carry, piece]) : piece;
    let cut = bytes.length;
    // A character is at most 4 bytes: its lead byte is among the last 3 if it is cut.
    for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 3); i--) {
      const n = sequenceLength(bytes[i]!);
      if (n === 0) continue;
      if (i + n > bytes.length) cut = i;
      break;
    }
    this.carry = bytes.slice(cut);
    return isUtf8(bytes.subarray(0, cut));
  }

  /** False when the bytes ended inside a character. */
  end(): boolean {
    return this.carry.length === 0;
  }
}
