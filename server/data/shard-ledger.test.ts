import { describe, expect, it } from 'vitest';
import { ShardLedger } from './shard-ledger.js';

function ledger(shardCount: number, epochs: number, leaseMs = 1000) {
  const clock = { t: 0 };
  const l = new ShardLedger({ shardCount, epochs, leaseMs, seed: 7, now: () => clock.t });
  return { l, clock };
}

describe('shard ledger', () => {
  it('hands out every shard of an epoch once, in a shuffled order', () => {
    const { l } = ledger(10, 1);
    const got = Array.from({ length: 10 }, () => l.lease('w1')!.shardIndex);
    expect([...got].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(got).not.toEqual([...Array(10).keys()]);
    expect(l.lease('w1')).toBeNull(); // single epoch, all out
  });

  it('requeues an expired lease at the front and refuses the lapsed lease id', () => {
    const { l, clock } = ledger(3, 1, 1000);
    const a = l.lease('w1')!;
    clock.t = 999;
    expect(l.expire()).toBe(0);
    clock.t = 1000;
    const b = l.lease('w2')!; // expiry is checked on every lease
    expect(b.shardIndex).toBe(a.shardIndex);
    expect(b.workerId).toBe('w2');
    expect(l.complete(a.leaseId, 'w1')).toBeNull();
    expect(l.complete(b.leaseId, 'w2')).toEqual({ epoch: 0, epochDone: false });
  });

  it('renewal by a push keeps a lease alive past its original expiry', () => {
    const { l, clock } = ledger(2, 1, 1000);
    const a = l.lease('w1')!;
    clock.t = 900;
    l.renew('w1');
    clock.t = 1500;
    expect(l.expire()).toBe(0);
    expect(l.complete(a.leaseId, 'w1')).not.toBeNull();
  });

  it('returns a departed worker\'s shards to the queue', () => {
    const { l } = ledger(2, 1);
    const a = l.lease('w1')!;
    const b = l.lease('w1')!;
    expect(l.lease('w2')).toBeNull();
    expect(l.release('w1')).toBe(2);
    const again = [l.lease('w2')!.shardIndex, l.lease('w2')!.shardIndex].sort();
    expect(again).toEqual([a.shardIndex, b.shardIndex].sort());
  });

  it('refuses a completion by a worker that does not hold the lease', () => {
    const { l } = ledger(2, 1);
    const a = l.lease('w1')!;
    expect(l.complete(a.leaseId, 'w2')).toBeNull();
    expect(l.complete('L999', 'w1')).toBeNull();
  });

  it('ends an epoch only when every shard is done, and finishes after the last epoch', () => {
    const { l } = ledger(3, 2);
    const e0 = [l.lease('w')!, l.lease('w')!, l.lease('w')!];
    expect(e0.every((x) => x.epoch === 0)).toBe(true);
    // Epoch 1 opens while epoch 0's shards are still out, so workers stay busy.
    const e1first = l.lease('w')!;
    expect(e1first.epoch).toBe(1);
    expect(l.complete(e0[0]!.leaseId, 'w')!.epochDone).toBe(false);
    expect(l.complete(e0[1]!.leaseId, 'w')!.epochDone).toBe(false);
    expect(l.epochsCompleted).toBe(0);
    expect(l.complete(e0[2]!.leaseId, 'w')).toEqual({ epoch: 0, epochDone: true });
    expect(l.epochsCompleted).toBe(1);
    const rest = [l.lease('w')!, l.lease('w')!];
    expect(l.lease('w')).toBeNull(); // no third epoch
    for (const x of [e1first, ...rest]) l.complete(x.leaseId, 'w');
    expect(l.finished).toBe(true);
    expect(l.history).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  it('keeps at most two epochs open while a straggler holds a shard', () => {
    const { l } = ledger(2, 5);
    const straggler = l.lease('slow')!;
    const other = l.lease('fast')!;
    l.complete(other.leaseId, 'fast');
    const n1 = l.lease('fast')!;
    const n2 = l.lease('fast')!;
    expect([n1.epoch, n2.epoch]).toEqual([1, 1]);
    l.complete(n1.leaseId, 'fast');
    l.complete(n2.leaseId, 'fast');
    expect(l.lease('fast')).toBeNull(); // epoch 2 waits for epoch 0's straggler
    l.complete(straggler.leaseId, 'slow');
    expect(l.epochsCompleted).toBe(2);
    expect(l.lease('fast')!.epoch).toBe(2);
  });
});
