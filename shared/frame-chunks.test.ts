import { describe, expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import { chunksOf, FrameAssembler } from './frame-chunks.js';

const frameOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);

function roundTrip(frame: Uint8Array, chunk: number): { messages: (string | Uint8Array)[]; out: Uint8Array[] } {
  const messages = chunksOf(frame, chunk);
  const a = new FrameAssembler(1 << 20, chunk);
  const out: Uint8Array[] = [];
  for (const m of messages) {
    // What the channel delivers: binary messages as their own ArrayBuffers.
    const r = a.push(typeof m === 'string' ? m : m.slice().buffer);
    if (r && 'ok' in r) throw new Error(r.message);
    if (r) out.push(r);
  }
  return { messages, out };
}

describe('frames over a data channel', () => {
  it('a frame that fits is one message, the frame itself', () => {
    const f = frameOf(100);
    expect(chunksOf(f, 100)).toEqual([f]);
    expect(roundTrip(f, 100).out).toEqual([f]);
  });

  it('a larger one is announced and sliced into views, none over the chunk size, and comes back whole', () => {
    for (const n of [101, 200, 201, 1000]) {
      const f = frameOf(n);
      const { messages, out } = roundTrip(f, 100);
      expect(messages[0]).toBe(`DPF1 ${n}`);
      expect(messages.slice(1).map((m) => (m as Uint8Array).byteLength)).toEqual(Array.from({ length: Math.ceil(n / 100) }, (_, i) => Math.min(100, n - i * 100)));
      expect((messages[1] as Uint8Array).buffer).toBe(f.buffer); // views, not copies
      expect(out).toEqual([f]);
    }
  });

  it('frames follow each other on one channel', () => {
    const a = new FrameAssembler(1 << 20, 100);
    const frames = [frameOf(50), frameOf(250), frameOf(100), frameOf(101)];
    const out: Uint8Array[] = [];
    for (const m of frames.flatMap((f) => chunksOf(f, 100))) {
      const r = a.push(m);
      if (r && !('ok' in r)) out.push(r);
    }
    expect(out).toEqual(frames);
  });

  it('refuses what a sender keeping to the rules never sends', () => {
    const fresh = () => new FrameAssembler(1000, 100);
    expect(fresh().push(frameOf(101))).toMatchObject({ ok: false, code: ErrorCode.PAYLOAD_TOO_LARGE });
    for (const bad of ['DPF1 1001', 'DPF1 100', 'DPF1 -5', 'DPF1 2.5', 'hello', 'DPF1 '])
      expect(fresh().push(bad), bad).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    const a = fresh();
    expect(a.push('DPF1 150')).toBeNull();
    expect(a.push('DPF1 150')).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    const b = fresh();
    expect(b.push('DPF1 150')).toBeNull();
    expect(b.push(frameOf(100))).toBeNull();
    expect(b.push(frameOf(60))).toMatchObject({ ok: false, code: ErrorCode.PAYLOAD_TOO_LARGE });
  });
});
