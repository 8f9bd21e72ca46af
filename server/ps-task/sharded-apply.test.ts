/**
 * Two real ps tasks hold the mlp's parameters as the placement splits them (row
 * partitions included); a sequence of pushes, each split by the placement and sent to
 * both, leaves exactly the parameters and optimizer state, bit for bit, that the same
 * sequence leaves in one process's ParameterStore. The optimizers work element by
 * element, so where an element lives must not change what happens to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecOf, decodeTensors, encodeTensors } from '../../shared/codec.js';
import { optimizerSpecSchema, OPTIMIZER_TYPES } from '../../shared/job-spec.js';
import { jobCreateMessage } from '../../test-support/ps-clients.js';
import { bits, MLP, MLP_SIZES as SIZES, seededValues as random, startPsTasks, type PsTaskFixture } from '../../test-support/ps-fixture.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { Placement } from '../cluster/placement.js';
import { TicketSigner } from '../cluster/tickets.js';
import { GradientGate } from '../params/gradient-gate.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';

const TOKEN = 'sharded-apply-test-cluster-token-0123456789';
const keys = deriveClusterKeys(TOKEN);
// 64 KiB partitions: dense1/kernel (392 KiB) is split over both tasks.
const placement = Placement.of(MLP, { tasks: 2, partitionBytes: 64 * 1024 });
const PUSHES = 6;

describe('pushes through 2 ps tasks give the parameters one process gives', () => {
  let tasks: PsTaskFixture;
  const signer = new TicketSigner(keys, Date.now);

  beforeAll(async () => {
    tasks = await startPsTasks(2, { token: TOKEN });
  });
  afterAll(() => tasks.close());

  it('splits the mlp over both tasks', () => {
    expect(placement.byTask.map((slices) => slices.map((s) => s.name))).toEqual([
      ['dense1/kernel/part_0', 'dense1/bias', 'output/bias'],
      ['dense1/kernel/part_1', 'output/kernel'],
    ]);
  });

  for (const type of OPTIMIZER_TYPES) {
    it(`${type}: bit for bit, values and optimizer state`, async () => {
      const jobId = `job-${type}`;
      const optimizer = optimizerSpecSchema.parse({ type, learningRate: 0.05 });
      const initial = MLP.map((_, i) => random(i + 1, SIZES[i]!, 0.2));
      const one = new ParameterStore(MLP, initial, createOptimizer(optimizer));
      const gate = new GradientGate(one, codecOf({ codec: 'fp32', topkRatio: 0.01 }), 0, null);
      try {
        const parts = placement.splitTensors(initial);
        for (let t = 0; t < 2; t++) {
          const msg = jobCreateMessage(keys, 1, { jobId, task: t, slices: placement.specsOf(t), initial: parts[t]!, optimizer });
          expect(await tasks.chiefs[t]!.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
        }
        for (let k = 0; k < PUSHES; k++) {
          const grads = MLP.map((_, i) => random(1000 * k + i, SIZES[i]!, 0.1));
          // Every other push is one version stale on both sides, as a slow worker's would be.
          const base = Math.max(0, k - (k % 2));
          const split = placement.splitTensors(grads);
          const acks = await Promise.all(
            [0, 1].map((t) => {
              const payload = encodeTensors(placement.specsOf(t).map((s, i) => ({ ...s, values: split[t]![i]! })));
              return tasks.workers[t]!.emitWithAck('grads:push', { ticket: signer.sign({ worker: 'w', job: jobId, task: t }), jobId, baseVersion: base, ...payload });
            }),
          );
          expect(acks).toEqual([0, 1].map(() => ({ ok: true, version: k + 1, staleness: k - base, receipt: expect.any(String) })));
          const decoded = gate.check({ ...encodeTensors(MLP.map((s, i) => ({ ...s, values: grads[i]! }))), batches: 1 }, 'w');
          if ('ok' in decoded) throw new Error(`the gate refused the push: ${decoded.code} ${decoded.message}`);
          one.apply(decoded);
        }
        // Gather as the chief will for a checkpoint: each task's snapshot, joined by the placement.
        const snaps = await Promise.all([0, 1].map((t) => tasks.chiefs[t]!.emitWithAck('params:snapshot', { chief: chiefCredential(keys, 1, 'params:snapshot', jobId), jobId })));
        const perTask = snaps.map((snap) => {
          if (!snap.ok) throw new Error(snap.message);
          expect(snap.version).toBe(PUSHES);
          return decodeTensors(snap, snap.manifest.tensors.map((e) => ({ name: e.name, shape: e.shape })));
        });
        const slots = snaps[0]!.ok ? snaps[0]!.slotNames.length : 0;
        const gathered = (k: number) => placement.joinTensors(perTask.map((arrays) => arrays.filter((_, i) => i % (slots + 1) === k)), SIZES);
        const reference = one.snapshot();
        expect(gathered(0).map(bits)).toEqual(reference.tensors.map((t) => bits(t.values)));
        for (let s = 0; s < slots; s++) expect(gathered(s + 1).map(bits)).toEqual(reference.tensors.map((t) => bits(t.slots[s]!)));
        expect(slots).toBe(createOptimizer(optimizer).slotNames.length);
      } finally {
        one.dispose();
      }
    });
  }
});
