import { describe, expect, it } from 'vitest';
import type { LayerCost } from '../../shared/stage-plan.js';
import { MIN_BUSY_FRACTION, ReplicaBoard, type Replica, type ReplicaNotice } from './replica-board.js';

const layer = (name: string, flops: number, paramBytes: number, outputValues = 4): LayerCost => ({ name, flops, paramBytes, inputShape: [4], outputValues });
// A light, a light, a heavy layer: the heavy one goes to the fastest worker.
const COSTS = [layer('a', 100, 0), layer('b', 100, 80), layer('c', 800, 400)];
const TENSORS = [
  { name: 'b/kernel', shape: [4, 4] },
  { name: 'b/bias', shape: [4] },
  { name: 'c/kernel', shape: [4, 24] },
  { name: 'c/bias', shape: [4] },
];

function board(stages = 2, clock = { now: 1000 }, apartMs = 0) {
  const notices: [string, ReplicaNotice][] = [];
  const dissolved: Replica[] = [];
  const b = new ReplicaBoard({
    stages,
    microbatches: 4,
    activationCodec: 'fp32',
    depth: 2,
    costs: COSTS,
    tensors: TENSORS,
    maxWorkerParamBytes: null,
    now: () => clock.now,
    apartMs,
    notify: (w, n) => notices.push([w, n]),
    onDissolved: (r) => dissolved.push(r),
  });
  return { b, notices, dissolved };
}

describe('ReplicaBoard', () => {
  it('forms a replica when K workers wait, tells each its stage; the next waits', () => {
    const { b, notices } = board();
    b.join('w1');
    expect(notices).toEqual([]);
    b.join('w2');
    b.join('w3');
    expect(b.waiting).toEqual(['w3']);
    // Equal (unmeasured) workers: the heavy layer alone is the least slowest stage.
    expect(notices).toEqual([
      ['w1', { kind: 'formed', replica: { replicaId: 'r1', stage: 0, of: 2, from: 0, to: 2, inputShape: [4], tensors: ['b/kernel', 'b/bias'], microbatches: 4, activationCodec: 'fp32', depth: 2, prev: null, next: 'w2' } }],
      ['w2', { kind: 'formed', replica: { replicaId: 'r1', stage: 1, of: 2, from: 2, to: 3, inputShape: [4], tensors: ['c/kernel', 'c/bias'], microbatches: 4, activationCodec: 'fp32', depth: 2, prev: 'w1', next: null } }],
    ]);
    expect(b.replicaOf('w2')?.id).toBe('r1');
    expect(b.assignmentOf('w3')).toBeNull();
    // Each worker's place, as the dashboard's worker rows show it.
    expect(['w1', 'w2', 'w3', 'w4'].map((w) => b.placeOf(w))).toEqual([{ replicaId: 'r1', stage: 0, of: 2 }, { replicaId: 'r1', stage: 1, of: 2 }, 'waiting', null]);
  });

  it('a leaving stage dissolves its replica: the others are told, wait again and join the next replica', () => {
    const { b, notices, dissolved } = board();
    for (const w of ['w1', 'w2', 'w3']) b.join(w);
    notices.length = 0;
    b.leave('w1');
    expect(dissolved.map((r) => [r.id, r.members])).toEqual([['r1', ['w1', 'w2']]]);
    expect(notices[0]).toEqual(['w2', { kind: 'dissolved', replicaId: 'r1', reason: 'a stage left' }]);
    // w3 waited first, w2 came back: together they are r2.
    expect(notices.slice(1).map(([w, n]) => [w, n.kind === 'formed' && n.replica.replicaId])).toEqual([
      ['w3', 'r2'],
      ['w2', 'r2'],
    ]);
    expect(b.get('r1')).toBeUndefined();
    b.leave('w9');
    b.leave('w3');
    expect(b.waiting).toEqual(['w2']);
  });

  it('plans by measured speed: reports on a stage become whole-model rates, and a fast worker takes the heavy layers', () => {
    const { b, notices } = board();
    for (const w of ['w1', 'w2', 'w3', 'w4']) b.join(w);
    // r1 = w1 (a, b) | w2 (c); r2 = w3 (a, b) | w4 (c).
    b.reported('w2', 50); // 800 of 1000 FLOPs at 50 ex/s: 40 ex/s on the whole model
    b.reported('w3', 10); // 200 of 1000 at 10: 2 ex/s
    b.leave('w1');
    b.leave('w4');
    notices.length = 0;
    // w2 (fast) came back before w3 (slow); the plan puts the slow one first, on the light layer alone.
    const formed = b.list()[0]!;
    expect(formed.members).toEqual(['w3', 'w2']);
    expect(formed.plan.stages.map((s) => [s.from, s.to])).toEqual([
      [0, 1],
      [1, 3],
    ]);
  });

  it("estimates a stage's speed from its busy fraction, not its share of the FLOPs alone: both stages report the replica's rate", () => {
    const { b } = board();
    for (const w of ['w1', 'w2', 'w3', 'w4']) b.join(w);
    // r1 = w1 (a, b: 200 of 1000 FLOPs) | w2 (c: 800). Both report the replica's 10 ex/s; w1 computed 10 % of the time, w2 all of it.
    b.reported('w1', 10, 0.1);
    b.reported('w2', 10, 1);
    // w1 would do 100 ex/s on its stage busy all the time: 20 on the whole model; w2, 8. (By FLOP share alone: 2 and 8.)
    expect(b.rateOf('w1')).toBeCloseTo(20, 9);
    expect(b.rateOf('w2')).toBeCloseTo(8, 9);
    // No busy time reported yet, or one out of (0, 1]: the stage counts as always busy.
    b.reported('w3', 10);
    b.reported('w4', 10, 0);
    expect([b.rateOf('w3'), b.rateOf('w4')]).toEqual([2, 8]);
    // The next replica of w1 and w2 gives the heavy layer to w1, the faster one, which FLOP share alone took for the slower.
    b.leave('w3');
    b.leave('w4');
    b.dissolve('r1', 'replanned');
    const next = b.list();
    expect(next.map((r) => r.id)).toEqual(['r3']);
    expect(next[0]!.members[next[0]!.plan.stages.findIndex((s) => s.to === 3)]).toBe('w1');
  });

  it('a vanishing busy fraction counts as the least one estimated from, so no rate is infinite and replicas still form', () => {
    const { b } = board();
    for (const w of ['w1', 'w2']) b.join(w);
    // 1e9 examples/s over 5e-324 of the time overflowed to an infinite rate, which every later plan refused.
    b.reported('w1', 1e9, 5e-324);
    expect(b.rateOf('w1')).toBe(((1e9 / MIN_BUSY_FRACTION) * 200) / 1000);
    b.reported('w2', 50, 0.5);
    b.dissolve('r1', 'stage 1 aborted the step');
    for (const w of ['w3', 'w4']) b.join(w);
    expect(b.list().map((r) => [...r.members].sort())).toEqual([['w1', 'w2'], ['w3', 'w4']]);
    expect(b.waiting).toEqual([]);
  });

  it('joining twice changes nothing', () => {
    const { b } = board(3);
    b.join('w1');
    b.join('w1');
    expect(b.waiting).toEqual(['w1']);
  });
});

describe('ReplicaBoard.clear', () => {
  it('dissolves every replica for its reason and forms none from their members', () => {
    const { b, notices } = board();
    for (const w of ['w1', 'w2', 'w3']) b.join(w);
    notices.length = 0;
    b.clear('the job is paused');
    expect(notices).toEqual([
      ['w1', { kind: 'dissolved', replicaId: 'r1', reason: 'the job is paused' }],
      ['w2', { kind: 'dissolved', replicaId: 'r1', reason: 'the job is paused' }],
    ]);
    expect(b.list()).toEqual([]);
    expect(b.waiting).toEqual([]);
  });
});

describe('ReplicaBoard.dissolveApart', () => {
  it('keeps the members of a stalled replica out of one replica until apartMs has passed; the others form around them', () => {
    const clock = { now: 1000 };
    const { b } = board(2, clock, 90_000);
    for (const w of ['w1', 'w2']) b.join(w);
    b.dissolveApart(b.get('r1')!, 'replica r1 made no step within 30 s');
    // Alone together: they wait rather than stall each other again.
    expect(b.list()).toEqual([]);
    expect(b.waiting).toEqual(['w1', 'w2']);
    // A newcomer forms with the first of them; the other waits.
    b.join('w3');
    expect(b.list().map((r) => r.members)).toEqual([['w1', 'w3']]);
    b.dissolveApart(b.get('r2')!, 'stage 1 aborted the step: a bad frame from stage 0');
    // w1 is now kept apart from both: w2 and w3 form, passing over the first waiting.
    expect(b.list().map((r) => r.members)).toEqual([['w2', 'w3']]);
    expect(b.waiting).toEqual(['w1']);
    expect([b.keptApart('w1', 'w2'), b.keptApart('w3', 'w1'), b.keptApart('w2', 'w3')]).toEqual([true, true, false]);
    // apartMs on, the keeping ends: w1 may be placed with w2 again.
    clock.now += 90_000;
    b.leave('w3');
    expect(b.list().map((r) => r.members)).toEqual([['w1', 'w2']]);
  });

  it('pairs every member of a larger replica, and forgets a worker that leaves', () => {
    const { b } = board(3, { now: 0 }, 60_000);
    for (const w of ['w1', 'w2', 'w3']) b.join(w);
    b.dissolveApart(b.get('r1')!, 'stall');
    b.join('w4');
    expect(b.list()).toEqual([]);
    expect([b.keptApart('w1', 'w3'), b.keptApart('w2', 'w3'), b.keptApart('w1', 'w4')]).toEqual([true, true, false]);
    b.leave('w2');
    expect(b.keptApart('w1', 'w2')).toBe(false);
    b.join('w5');
    expect(b.list().map((r) => r.members)).toEqual([['w1', 'w4', 'w5']]);
    expect(b.waiting).toEqual(['w3']);
  });

  it('a plain dissolve keeps no one apart', () => {
    const { b } = board(2, { now: 0 }, 60_000);
    for (const w of ['w1', 'w2']) b.join(w);
    b.dissolve('r1', 'the job was edited');
    expect(b.list().map((r) => r.members)).toEqual([['w1', 'w2']]);
  });
});
