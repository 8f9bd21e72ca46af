import { describe, expect, it } from 'vitest';
import { emptyStats } from '../jobs/job-stats.js';
import type { CheckpointContent } from './checkpoint-format.js';
import { checkpointMisfit, type CheckpointTarget } from './checkpoint-fit.js';

const target: CheckpointTarget = {
  tensors: [
    { name: 'dense1/kernel', shape: [3, 2] },
    { name: 'dense1/bias', shape: [2] },
  ],
  slots: 1,
  shardCount: 3,
  epochs: 2,
};

function fitting(): CheckpointContent {
  const tensor = (name: string, shape: number[], n: number) => ({ name, shape, values: new Float32Array(n), slots: [new Float32Array(n)] });
  return {
    jobId: 'job-1',
    at: 1,
    store: { version: 4, applies: 4, tensors: [tensor('dense1/kernel', [3, 2], 6), tensor('dense1/bias', [2], 2)] },
    ledger: { completedEpochs: 1, nextLeaseId: 7, open: [{ epoch: 1, pending: [2, 0], done: [1] }], history: [[1, 1, 1], [0, 1, 0]] },
    stats: emptyStats(),
  };
}

describe('checkpointMisfit', () => {
  it('accepts a checkpoint of the same model and ledger, and one written before names were recorded', () => {
    expect(checkpointMisfit(fitting(), target)).toBeNull();
    const old = fitting();
    for (const t of old.store.tensors) {
      delete t.name;
      delete t.shape;
    }
    expect(checkpointMisfit(old, target)).toBeNull();
  });

  const cases: [string, (c: CheckpointContent) => void, RegExp][] = [
    ['another tensor count', (c) => c.store.tensors.pop(), /the checkpoint has 1 tensors, the model 2/],
    ['another tensor name', (c) => (c.store.tensors[0]!.name = 'conv1/kernel'), /tensor 0 is "conv1\/kernel", the model's is "dense1\/kernel"/],
    ['another shape of the same size', (c) => (c.store.tensors[0]!.shape = [2, 3]), /is \[2,3\] in the checkpoint, \[3,2\] in the model/],
    ['another size', (c) => (c.store.tensors[1]!.values = new Float32Array(5)), /has 5 values, the model 2/],
    ['another optimizer', (c) => c.store.tensors[0]!.slots.push(new Float32Array(6)), /2 optimizer slots, the job's optimizer 1/],
    ['a slot of the wrong size', (c) => (c.store.tensors[0]!.slots[0] = new Float32Array(1)), /optimizer slot/],
    ['a negative version', (c) => (c.store.version = -1), /is not a count/],
    ['another shard count', (c) => (c.ledger.history = [[1, 1], [0, 1]]), /counts 2 shards, the job's dataset has 3/],
    ['a shard out of range', (c) => (c.ledger.open[0]!.pending = [2, 7]), /shard 7 out of range/],
    ['a shard twice', (c) => (c.ledger.open[0]!.pending = [1, 0]), /shard 1 out of range or twice/],
    ['a shard in neither list', (c) => (c.ledger.open[0]!.pending = [2]), /accounts for 2 of 3 shards/],
    ['more epochs than the job', (c) => (c.ledger.completedEpochs = 5), /malformed/],
    ['an open epoch past the last', (c) => (c.ledger.open[0]!.epoch = 2), /open epoch 2/],
  ];
  for (const [what, change, reason] of cases) {
    it(`refuses ${what}`, () => {
      const c = fitting();
      change(c);
      expect(checkpointMisfit(c, target)).toMatch(reason);
    });
  }
});

describe('checkpointMisfit of a cut over ps tasks', () => {
  const sha = 'a'.repeat(64);
  function cut(): CheckpointContent {
    const c = fitting();
    return {
      ...c,
      store: { version: 4, applies: 4, tensors: [] },
      cut: { checkpointId: 's4-x', step: 4, tasks: 2, partitionBytes: 1 << 20, tensors: target.tensors.map((t) => ({ ...t })), slotNames: ['accumulator'], parts: [{ task: 0, version: 6, bytes: 100, sha256: sha }, { task: 1, version: 4, bytes: 100, sha256: sha }] },
    };
  }
  const ps = { ...target, cuts: true };

  it('fits a job on ps tasks with the same tensors and slots, and no job kept in process', () => {
    expect(checkpointMisfit(cut(), ps)).toBeNull();
    expect(checkpointMisfit(cut(), target)).toMatch(/it is a cut over ps tasks, and this coordinator keeps the job in process/);
  });

  const cases: [string, (c: CheckpointContent) => void, RegExp][] = [
    ['another tensor shape', (c) => (c.cut!.tensors[0]!.shape = [2, 3]), /tensor 0 is "dense1\/kernel" \[2,3\] in the cut/],
    ['other optimizer slots', (c) => (c.cut!.slotNames = []), /0 optimizer slots per tensor, the job's optimizer 1/],
    ['parts out of task order', (c) => c.cut!.parts.reverse(), /not one per task in task order/],
    ['a checksum that is not one', (c) => (c.cut!.parts[0]!.sha256 = 'zz'), /cut manifest is malformed/],
    ['a step other than the header version', (c) => (c.cut!.step = 3), /its cut and its header disagree/],
    ['values beside the cut', (c) => c.store.tensors.push(fitting().store.tensors[0]!), /its cut and its header disagree/],
  ];
  it.each(cases)('refuses %s', (_name, edit, reason) => {
    const c = cut();
    edit(c);
    expect(checkpointMisfit(c, ps)).toMatch(reason);
  });
});
