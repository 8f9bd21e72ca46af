/** The worker's side of push slots, over a scripted channel: what it asks, when, and how long it waits. */
import { describe, expect, it } from 'vitest';
import { BusyBackoff } from './busy-backoff.js';
import { ErrorCode } from './errors.js';
import type { GradientPush, PushAccepted, SlotGrant } from './protocol.js';
import type { Result } from './result.js';
import { SlotPusher } from './slot-pusher.js';

const PUSH = { jobId: 'j', leaseId: 'l', baseVersion: 0, batches: 1, loss: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(20_000) } as GradientPush;
const busy = (retryAfterMs: number, slots?: true) => ({ ok: false as const, code: ErrorCode.BUSY, message: 'busy', retryAfterMs, ...(slots ? { slots } : {}) });

function scripted(slots: Result<SlotGrant>[], pushes: Result<PushAccepted>[]) {
  const log: string[] = [];
  return {
    log,
    channel: {
      ask: async (req: { bytes: number }) => (log.push(`ask ${req.bytes}`), slots.shift()!),
      send: async (p: GradientPush) => (log.push(`push ${p.slot ?? '-'}`), pushes.shift()!),
    },
  };
}

describe('SlotPusher', () => {
  it('pushes straight out until an answer says slots are required; then asks first, waits the BUSY slot\'s hint (its place in the retry queue), and sends with the grant', async () => {
    const slept: number[] = [];
    const p = new SlotPusher({ askFirst: false, backoff: new BusyBackoff({ random: () => 0.5 }), sleep: async (ms) => void slept.push(ms) });
    const { log, channel } = scripted(
      [busy(2000), { ok: true, slot: 's1', ttlMs: 1000 }],
      [{ ok: true, version: 1, staleness: 0, slots: true }, { ok: true, version: 2, staleness: 0 }],
    );
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true, version: 1 });
    expect(p.slotsRequired).toBe(true);
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true, version: 2 });
    expect(log).toEqual(['push -', 'ask 20000', 'ask 20000', 'push s1']);
    expect(slept).toEqual([2200]); // the hint, and a draw of one half of the fifth added as jitter
    expect(p.slotsRequired).toBe(false);
  });

  it('a push refused BUSY for want of a slot asks for one and sends the same push again; a refusal for another reason keeps what it knew', async () => {
    const p = new SlotPusher({ askFirst: false, sleep: async () => {} });
    const { log, channel } = scripted(
      [{ ok: true, slot: 's1', ttlMs: 1000 }, { ok: true, slot: 's2', ttlMs: 1000 }],
      [busy(0, true), { ok: true, version: 1, staleness: 0, slots: true }, { ok: false, code: ErrorCode.STALE, message: 'stale' }],
    );
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true });
    expect(await p.push(PUSH, channel)).toMatchObject({ code: ErrorCode.STALE });
    expect(p.slotsRequired).toBe(true);
    expect(log).toEqual(['push -', 'ask 20000', 'push s1', 'ask 20000', 'push s2']);
  });

  it('waits each refused slot its own hint, not doubled per refusal in a row; a slot refused without a hint waits the full-jitter back-off', async () => {
    const slept: number[] = [];
    const p = new SlotPusher({ askFirst: false, backoff: new BusyBackoff({ baseMs: 100, random: () => 0 }), sleep: async (ms) => void slept.push(ms) });
    const { log, channel } = scripted(
      [busy(40), busy(40), busy(40), busy(0), { ok: true, slot: 's1', ttlMs: 1000 }],
      [{ ok: true, version: 1, staleness: 0, slots: true }, { ok: true, version: 2, staleness: 0, slots: true }],
    );
    await p.push(PUSH, channel);
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true, version: 2 });
    expect(log).toEqual(['push -', 'ask 20000', 'ask 20000', 'ask 20000', 'ask 20000', 'ask 20000', 'push s1']);
    expect(slept).toEqual([40, 40, 40, 0]);
  });

  it("answers a slot refused otherwise than BUSY as the push's answer", async () => {
    const p = new SlotPusher({ askFirst: false, sleep: async () => {} });
    const { log, channel } = scripted([{ ok: false, code: ErrorCode.UNKNOWN_JOB, message: 'gone' }], [busy(0, true)]);
    expect(await p.push(PUSH, channel)).toMatchObject({ code: ErrorCode.UNKNOWN_JOB });
    expect(log).toEqual(['push -', 'ask 20000']);
  });

  it('asks before its first large push, before any answer said whether the server is under load; never for a small one', async () => {
    const p = new SlotPusher({ sleep: async () => {} });
    const { log, channel } = scripted([{ ok: true, slot: 's1', ttlMs: 1000 }], [{ ok: true, version: 1, staleness: 0 }, { ok: true, version: 2, staleness: 0 }, { ok: true, version: 3, staleness: 0 }]);
    expect(await new SlotPusher({ sleep: async () => {} }).push({ ...PUSH, data: new Uint8Array(100) }, channel)).toMatchObject({ ok: true, version: 1 });
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true, version: 2 });
    expect(await p.push(PUSH, channel)).toMatchObject({ ok: true, version: 3 });
    expect(log).toEqual(['push -', 'ask 20000', 'push s1', 'push -']);
  });
});
