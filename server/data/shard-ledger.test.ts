import { describe, expect, it } from 'vitest';
import type { LedgerState } from './ledger-state.js';
import { ShardLedger, type Lease } from './shard-ledger.js';

/** Shards of 100, 100 and 50 examples in batches of 32: 4, 4 and 2 batches (the last of each short). */
const SIZES = [100, 100, 50];
const ledger = (epochs = 1, shardSizes = SIZES) => new ShardLedger({ shardSizes, batchSize: 32, epochs, seed: 7 });

/** Pushes every batch of `lease` one at a time, each accepted, then completes it. */
function train(l: ShardLedger, lease: Lease) {
  while (lease.cursor < lease.to) l.settle(l.take(lease, 1), true, null);
  return l.complete(lease);
}

describe('shard ledger', () => {
  it('hands out every shard of an epoch whole, once, in a shuffled order, with its example order', () => {
    const l = ledger(1, Array.from({ length: 10 }, () => 64));
    const got = Array.from({ length: 10 }, () => l.lease('w1')!);
    expect(got.map((x) => x.shardIndex).sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(got.map((x) => x.shardIndex)).not.toEqual([...Array(10).keys()]);
    expect(got.every((x) => x.from === 0 && x.to === 2 && x.cursor === 0)).toBe(true);
    expect(new Set(got.map((x) => x.order)).size).toBe(10);
    expect(l.lease('w1')).toBeNull(); // single epoch, all out
  });

  it('says whether a lease asked for now would get a piece, without opening an epoch or taking one', () => {
    const l = ledger(2);
    // Nothing open yet: the first epoch would open.
    expect(l.canLease).toBe(true);
    const fresh = ledger(2);
    const a = l.lease('w')!;
    expect(a.shardIndex).toBe(fresh.lease('w')!.shardIndex);
    expect(l.canLease).toBe(true);
    // Two epochs open at most, every piece of both out: nothing until one comes back.
    const held = [a, ...Array.from({ length: 5 }, () => l.lease('w')!)];
    expect(held.every((x) => x !== undefined)).toBe(true);
    expect(l.canLease).toBe(false);
    expect(l.lease('w')).toBeNull();
    // A piece taken back is queued again.
    l.takeBack(held[0]!, 'w');
    expect(l.canLease).toBe(true);
    expect(l.lease('v')).not.toBeNull();
    expect(l.canLease).toBe(false);
  });

  it('credits the examples of accepted batches from the shard sizes and closes the epoch when every batch is in', () => {
    const l = ledger(1);
    const leases = [l.lease('w')!, l.lease('w')!, l.lease('w')!];
    for (const lease of leases.slice(0, 2)) expect(train(l, lease)).toEqual({ epoch: 0, epochDone: false });
    const last = leases[2]!;
    const t = l.take(last, last.to - last.cursor);
    expect(t).toMatchObject({ shard: last.shardIndex, from: 0, to: last.to, examples: SIZES[last.shardIndex] });
    expect(l.epochsCompleted).toBe(0);
    expect(l.settle(t, true, null)).toEqual({ epoch: 0, epochDone: true });
    expect(l.finished).toBe(true);
    expect(l.examples).toEqual([SIZES]);
    expect(l.complete(last)).toEqual({ epoch: 0, epochDone: true });
    expect(l.history).toEqual([[1, 1, 1]]);
  });

  it("requeues a refused push's batches at the front, for another worker first", () => {
    const l = ledger(1, [128, 128]); // 4 batches each
    const a = l.lease('bad')!;
    l.settle(l.take(a, 1), true, null);
    l.settle(l.take(a, 1), false, 'bad');
    // The only other piece is the second shard; the refused batch goes to another worker first.
    const other = l.lease('bad')!;
    expect(other.shardIndex).not.toBe(a.shardIndex);
    const retry = l.lease('good')!;
    expect(retry).toMatchObject({ shardIndex: a.shardIndex, from: 1, to: 2, order: a.order });
    l.settle(l.take(retry, 1), true, null);
    train(l, a);
    train(l, other);
    expect(l.finished).toBe(true);
    expect(l.examples).toEqual([[128, 128]]);
  });

  it("gives a worker a piece taken from it when nothing else is left", () => {
    const l = ledger(1, [64]);
    const a = l.lease('w')!;
    l.settle(l.take(a, 1), false, 'w');
    expect(l.lease('w')).toMatchObject({ shardIndex: 0, from: 0, to: 1 });
  });

  it('joins requeued batches of a shard into one piece', () => {
    const l = ledger(1, [32 * 6]);
    const a = l.lease('w')!;
    l.settle(l.take(a, 1), true, null);
    l.settle(l.take(a, 2), false, 'w');
    l.takeBack(a, 'w');
    expect(l.lease('v')).toMatchObject({ from: 1, to: 6 });
  });

  it('takes a lease back with its unpushed batches, remembers whose it was, and still credits a push in flight', () => {
    const l = ledger(1, [32 * 4]);
    const a = l.lease('w1')!;
    const inFlight = l.take(a, 1);
    l.takeBack(a, 'w1');
    expect(l.get(a.leaseId)).toBeUndefined();
    expect(l.lostBy(a.leaseId)).toBe('w1');
    expect(l.lease('w2')).toMatchObject({ from: 1, to: 4 });
    l.settle(inFlight, true, null);
    expect(l.examples[0]).toEqual([32]);
  });

  it("returns a departed worker's leases to the queue", () => {
    const l = ledger(1, [64, 64]);
    const [a, b] = [l.lease('w1')!, l.lease('w1')!];
    expect(l.lease('w2')).toBeNull();
    expect(l.release('w1')).toBe(2);
    const again = [l.lease('w2')!.shardIndex, l.lease('w2')!.shardIndex].sort();
    expect(again).toEqual([a.shardIndex, b.shardIndex].sort());
  });

  it('requeues what a completed lease never pushed', () => {
    const l = ledger(1, [32 * 4]);
    const a = l.lease('w')!;
    l.settle(l.take(a, 1), true, null);
    expect(l.complete(a)).toEqual({ epoch: 0, epochDone: false });
    expect(l.lease('v')).toMatchObject({ from: 1, to: 4 });
  });

  it('closes an epoch with leases still held whose every batch was accepted, and lets them be completed or taken back', () => {
    const l = ledger(1, [64, 64]);
    const [a, b] = [l.lease('w1')!, l.lease('w2')!];
    l.settle(l.take(a, 2), true, null);
    l.settle(l.take(b, 2), true, null);
    expect(l.finished).toBe(true);
    expect(l.complete(a)).toEqual({ epoch: 0, epochDone: true });
    expect(() => l.release('w2')).not.toThrow();
    expect(l.activeLeases).toBe(0);
  });

  it('counts a batch accepted twice as more examples than the shard holds, never as another batch', () => {
    const l = ledger(1, [64]);
    const a = l.lease('w')!;
    l.settle(l.take(a, 1), true, null);
    l.takeBack({ ...a, cursor: a.from }, 'w'); // a bug: the batch already in goes back to the queue
    const again = l.lease('v')!;
    expect(again).toMatchObject({ from: 0, to: 2 });
    l.settle(l.take(again, 1), true, null);
    expect(l.finished).toBe(false);
    l.settle(l.take(again, 1), true, null);
    expect(l.finished).toBe(true);
    expect(l.examples[0]).toEqual([96]);
  });

  it('refuses to take more batches than a lease has left', () => {
    const l = ledger(1, [64]);
    const a = l.lease('w')!;
    expect(() => l.take(a, 3)).toThrow(/2 batches left/);
  });

  it('keeps at most two epochs open while a straggler holds a shard', () => {
    const l = ledger(5, [32, 32]);
    const straggler = l.lease('slow')!;
    train(l, l.lease('fast')!);
    const [n1, n2] = [l.lease('fast')!, l.lease('fast')!];
    expect([n1.epoch, n2.epoch]).toEqual([1, 1]);
    train(l, n1);
    train(l, n2);
    expect(l.lease('fast')).toBeNull(); // epoch 2 waits for epoch 0's straggler
    train(l, straggler);
    expect(l.epochsCompleted).toBe(2);
    expect(l.lease('fast')!.epoch).toBe(2);
  });

  it('keeps untrained work across a checkpoint: queued, leased and in-flight batches come back as pieces', () => {
    const l = ledger(2);
    const [a, b] = [l.lease('w')!, l.lease('w')!];
    l.settle(l.take(a, 1), true, null);
    l.take(a, 1); // in flight when the checkpoint is taken
    train(l, b);
    const state = l.exportState();
    const open = state.open[0]!;
    expect(open.done).toEqual([b.shardIndex]);
    expect(open.pieces!.find((p) => p.shard === a.shardIndex)).toEqual({ shard: a.shardIndex, from: 1, to: a.to });
    const back = ledger(2);
    back.restore(structuredClone(state));
    expect(back.exportState()).toEqual({ ...state, open: [{ ...open, pending: open.pending }] });
    const pieces: Lease[] = [];
    for (let x = back.lease('v'); x && x.epoch === 0; x = back.lease('v')) pieces.push(x);
    expect(pieces.map((p) => [p.shardIndex, p.from, p.to]).sort()).toEqual(open.pieces!.map((p) => [p.shard, p.from, p.to]).sort());
    for (const p of pieces) train(back, p);
    expect(back.epochsCompleted).toBe(1);
    expect(back.examples[0]).toEqual(SIZES);
  });

  it('restores a checkpoint written before leases had pieces: pending shards whole, done ones credited whole', () => {
    const old: LedgerState = { completedEpochs: 1, nextLeaseId: 9, open: [{ epoch: 1, pending: [2, 0], done: [1] }], history: [[1, 1, 1], [0, 1, 0]] };
    const l = ledger(2);
    l.restore(old);
    expect(l.examples).toEqual([SIZES, [0, 100, 0]]);
    const [x, y] = [l.lease('w')!, l.lease('w')!];
    expect([x.shardIndex, x.from, x.to, y.shardIndex, y.from, y.to]).toEqual([2, 0, 2, 0, 0, 4]);
    expect(x.leaseId).toBe('L9');
    train(l, x);
    train(l, y);
    expect(l.finished).toBe(true);
    expect(l.examples[1]).toEqual(SIZES);
  });

  it('refuses a checkpoint whose pieces do not fit the shards', () => {
    const base = { completedEpochs: 0, nextLeaseId: 1, history: [[0, 0, 0]] };
    const bad: LedgerState['open'][] = [
      [{ epoch: 0, pending: [0, 1, 2], done: [], pieces: [{ shard: 0, from: 0, to: 5 }, { shard: 1, from: 0, to: 4 }, { shard: 2, from: 0, to: 2 }] }],
      [{ epoch: 0, pending: [0, 1, 2], done: [], pieces: [{ shard: 0, from: 0, to: 3 }, { shard: 0, from: 2, to: 4 }, { shard: 1, from: 0, to: 4 }, { shard: 2, from: 0, to: 2 }] }],
      [{ epoch: 0, pending: [0, 1], done: [2], pieces: [{ shard: 0, from: 0, to: 4 }] }],
      [{ epoch: 0, pending: [0, 1], done: [], pieces: [{ shard: 0, from: 0, to: 4 }, { shard: 1, from: 0, to: 4 }] }],
    ];
    for (const open of bad) {
      expect(() => ledger().restore({ ...base, open })).toThrow(/epoch 0 of the checkpoint's ledger/);
      expect(ledger().misfit({ ...base, open })).toMatch(/^epoch 0 of the checkpoint's ledger/);
    }
    expect(ledger().misfit({ ...base, open: [{ epoch: 0, pending: [0, 1, 2], done: [] }] })).toBeNull();
    expect(ledger().misfit({ ...base, open: [{ epoch: 0, pending: [0, 1, 2], done: [] }], examples: [[0, 0]] })).toMatch(/other epochs or shards/);
  });
});
