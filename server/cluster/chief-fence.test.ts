import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ChiefFence, chiefCredential } from './chief-fence.js';
import { deriveClusterKeys } from './cluster-keys.js';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const keys = deriveClusterKeys('the-cluster-token-of-these-tests-0123456789');
const stranger = deriveClusterKeys('a-stranger-guessing-a-token-0123456789abcd');

describe('the chief fence', () => {
  it('adopts the first chief and every newer one; the same epoch stays good', () => {
    const fence = new ChiefFence(keys);
    expect(fence.epoch).toBe(0);
    expect(fence.admit(chiefCredential(keys, 3, 'task:status'), 'task:status', null)).toEqual({ epoch: 3 });
    expect(fence.admit(chiefCredential(keys, 3, 'job:create', 'job-1'), 'job:create', 'job-1')).toEqual({ epoch: 3 });
    expect(fence.admit(chiefCredential(keys, 9, 'job:delete', 'job-1'), 'job:delete', 'job-1')).toEqual({ epoch: 9 });
    expect(fence.epoch).toBe(9);
  });

  it('refuses an older epoch once a newer chief has spoken: STALE_CHIEF, and the newer one stays', () => {
    const fence = new ChiefFence(keys);
    const old = chiefCredential(keys, 1, 'job:delete', 'job-1');
    expect(fence.admit(old, 'job:delete', 'job-1')).toEqual({ epoch: 1 });
    fence.admit(chiefCredential(keys, 2, 'task:status'), 'task:status', null);
    // The deposed chief, or anyone replaying what it sent.
    expect(fence.admit(old, 'job:delete', 'job-1')).toEqual({ ok: false, code: ErrorCode.STALE_CHIEF, message: 'Chief epoch 1 is older than 2: a newer chief has taken over this task' });
    expect(fence.admit(chiefCredential(keys, 1, 'task:status'), 'task:status', null)).toMatchObject({ code: ErrorCode.STALE_CHIEF });
    expect(fence.epoch).toBe(2);
  });

  it('refuses a stranger, whatever epoch it claims, and lets it raise nothing', () => {
    const fence = new ChiefFence(keys);
    fence.admit(chiefCredential(keys, 5, 'task:status'), 'task:status', null);
    const forged = chiefCredential(stranger, 1_000_000, 'job:delete', 'job-1');
    expect(fence.admit(forged, 'job:delete', 'job-1')).toEqual({ ok: false, code: ErrorCode.UNAUTHORIZED, message: 'Control message not signed by this cluster' });
    expect(fence.epoch).toBe(5);
    expect(fence.admit(chiefCredential(keys, 5, 'job:delete', 'job-1'), 'job:delete', 'job-1')).toEqual({ epoch: 5 });
  });

  it('binds a proof to its epoch, its event and its job', () => {
    const fence = new ChiefFence(keys);
    const cred = chiefCredential(keys, 4, 'job:delete', 'job-1');
    expect(fence.admit({ ...cred, epoch: 5 }, 'job:delete', 'job-1')).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(fence.admit(cred, 'job:delete', 'job-2')).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(fence.admit(cred, 'job:create', 'job-1')).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(fence.admit(cred, 'job:delete', null)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
    expect(fence.epoch).toBe(0);
    expect(fence.admit(cred, 'job:delete', 'job-1')).toEqual({ epoch: 4 });
  });

  it('refuses malformed credentials before any MAC work', () => {
    const fence = new ChiefFence(keys);
    const good = chiefCredential(keys, 1, 'task:status');
    for (const bad of [{ ...good, epoch: 0 }, { ...good, epoch: -1 }, { ...good, epoch: 1.5 }, { ...good, epoch: Number.NaN }, { ...good, epoch: 2 ** 53 }, { ...good, proof: '' }, { ...good, proof: good.proof + 'A' }, { ...good, proof: good.proof.replace(/./, '+') }]) {
      expect(fence.admit(bad, 'task:status', null), JSON.stringify(bad)).toEqual({ ok: false, code: ErrorCode.UNAUTHORIZED, message: 'Not a chief credential' });
    }
    expect(() => chiefCredential(keys, 0, 'task:status')).toThrow(RangeError);
  });

  it('compares proofs with crypto.timingSafeEqual', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    const fence = new ChiefFence(keys);
    fence.admit(chiefCredential(keys, 1, 'task:status'), 'task:status', null);
    fence.admit(chiefCredential(stranger, 1, 'task:status'), 'task:status', null);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('keys tickets and proofs apart: the same message has different MACs under each', () => {
    expect(keys.ticketKey.equals(keys.controlKey)).toBe(false);
    expect(deriveClusterKeys('the-cluster-token-of-these-tests-0123456789').controlKey).toEqual(keys.controlKey);
    expect(() => deriveClusterKeys('short')).toThrow(/at least 32 characters/);
    expect(() => deriveClusterKeys('has spaces in it and is long enough to pass')).toThrow(/base64/);
  });
});

describe('the chief fence with a store (a task with a data dir)', () => {
  it('starts from the stored epoch, records a newer one before adopting it, and refuses what it cannot record', () => {
    let stored = 6;
    let broken = false;
    const store = {
      read: () => stored,
      write: (e: number) => {
        if (broken) throw new Error('disk full');
        stored = e;
      },
    };
    const fence = new ChiefFence(keys, store);
    expect(fence.epoch).toBe(6);
    expect(fence.admit(chiefCredential(keys, 5, 'task:status'), 'task:status', null)).toMatchObject({ code: ErrorCode.STALE_CHIEF });
    expect(fence.admit(chiefCredential(keys, 8, 'task:status'), 'task:status', null)).toEqual({ epoch: 8 });
    expect(stored).toBe(8);
    broken = true;
    expect(fence.admit(chiefCredential(keys, 9, 'task:status'), 'task:status', null)).toMatchObject({ code: ErrorCode.INTERNAL });
    expect(fence.epoch).toBe(8);
    // The same epoch needs no write.
    expect(fence.admit(chiefCredential(keys, 8, 'task:status'), 'task:status', null)).toEqual({ epoch: 8 });
  });
});
