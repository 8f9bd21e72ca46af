/**
 * Codecs per slice: a worker's SliceEncoder (client/engine/slice-encoder.ts) encodes
 * each task's slices in the job's codec and keeps error feedback per slice; two real
 * ps tasks decode them with their gates. A sequence of pushes in each codec leaves the
 * parameters that the same sequence leaves in one process, where the worker encodes
 * whole tensors (one GradientAccumulator) and one gate decodes them:
 * - fp32, fp16 (per element) and int8 (blocks of 256 values; dense1/kernel's partition
 *   boundary, row 392 of 128 columns, falls on a block boundary) bit for bit everywhere;
 * - topk and topk-packed bit for bit on every tensor the placement keeps whole; on the
 *   partitioned dense1/kernel they differ, since the k entries are chosen per partition.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODEC_IDS, codecOf, decodeTensors, type CodecId } from '../../shared/codec.js';
import { optimizerSpecSchema } from '../../shared/job-spec.js';
import { jobCreateMessage } from '../../test-support/ps-clients.js';
import { bits, MLP, MLP_SIZES, seededValues, startPsTasks, type PsTaskFixture } from '../../test-support/ps-fixture.js';
import { GradientAccumulator } from '../../client/engine/gradient-accumulator.js';
import { PsTransport } from '../../client/engine/ps-transport.js';
import { SliceEncoder } from '../../client/engine/slice-encoder.js';
import { encodeTensors } from '../../shared/codec.js';
import type { GradientPush } from '../../shared/protocol.js';
import { ok } from '../../shared/result.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { Placement } from '../cluster/placement.js';
import { TicketSigner } from '../cluster/tickets.js';
import { GradientGate } from '../params/gradient-gate.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';

const TOKEN = 'slice-codecs-test-cluster-token-0123456789';
const keys = deriveClusterKeys(TOKEN);
// 64 KiB partitions: dense1/kernel is split over both tasks at row 392.
const placement = Placement.of(MLP, { tasks: 2, partitionBytes: 64 * 1024 });
const PARTITIONED = 'dense1/kernel';
const PUSHES = 4;
const TOPK_RATIO = 0.05;
const optimizer = optimizerSpecSchema.parse({ type: 'sgd', learningRate: 0.1 });

/** Codecs whose choices are per element, or per block aligned with the partition here. */
const PER_ELEMENT: ReadonlySet<CodecId> = new Set(['fp32', 'fp16', 'int8']);

describe('codecs per slice over 2 ps tasks', () => {
  let tasks: PsTaskFixture;
  const signer = new TicketSigner(keys, Date.now);

  beforeAll(async () => {
    tasks = await startPsTasks(2, { token: TOKEN });
  });
  afterAll(() => tasks.close());

  it('splits dense1/kernel on a 256-value block boundary (what makes int8 per element here)', () => {
    const part1 = placement.byTask.flat().find((s) => s.name === `${PARTITIONED}/part_1`)!;
    expect(part1.offset % 256).toBe(0);
    expect(part1.offset).toBeGreaterThan(0);
  });

  for (const codec of CODEC_IDS) {
    it(`${codec}: the parameters one process gives${PER_ELEMENT.has(codec) ? ', bit for bit' : ' on every whole tensor'}`, async () => {
      const jobId = `job-${codec}`;
      const initial = MLP.map((_, i) => seededValues(i + 1, MLP_SIZES[i]!, 0.2));
      const job = { codec, topkRatio: TOPK_RATIO };
      const one = new ParameterStore(MLP, initial, createOptimizer(optimizer));
      const gate = new GradientGate(one, codecOf(job), 0, null);
      const wholeWorker = new GradientAccumulator(MLP, codecOf(job));
      const sliceWorker = new SliceEncoder(placement, job);
      try {
        const parts = placement.splitTensors(initial);
        for (let t = 0; t < 2; t++) {
          const msg = jobCreateMessage(keys, 1, { jobId, task: t, slices: placement.specsOf(t), initial: parts[t]!, optimizer, ...job });
          expect(await tasks.chiefs[t]!.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
        }
        for (let k = 0; k < PUSHES; k++) {
          const grads = MLP.map((_, i) => seededValues(1000 * k + i, MLP_SIZES[i]!, 0.1));
          const split = placement.splitTensors(grads);
          const acks = await Promise.all(
            [0, 1].map((t) => {
              const payload = sliceWorker.encode(t, split[t]!);
              expect(payload.manifest.codec).toBe(codec);
              return tasks.workers[t]!.emitWithAck('grads:push', { ticket: signer.sign({ worker: 'w', job: jobId, task: t }), jobId, baseVersion: k, ...payload });
            }),
          );
          expect(acks).toEqual([0, 1].map(() => ({ ok: true, version: k + 1, staleness: 0, receipt: expect.any(String) })));
          wholeWorker.add(grads, 0, 1);
          const decoded = gate.check({ ...wholeWorker.take(), batches: 1 }, 'w');
          if ('ok' in decoded) throw new Error(`the gate refused the push: ${decoded.code} ${decoded.message}`);
          one.apply(decoded);
        }
        const snaps = await Promise.all([0, 1].map((t) => tasks.chiefs[t]!.emitWithAck('params:snapshot', { chief: chiefCredential(keys, 1, 'params:snapshot', jobId), jobId })));
        // SGD keeps no slots: each task's snapshot is its slices' values.
        const perTask = snaps.map((snap) => {
          if (!snap.ok) throw new Error(snap.message);
          return decodeTensors(snap, snap.manifest.tensors.map((e) => ({ name: e.name, shape: e.shape })));
        });
        const gathered = placement.joinTensors(perTask, MLP_SIZES).map(bits);
        const reference = one.snapshot().tensors.map((t) => bits(t.values));
        MLP.forEach((spec, i) => {
          if (PER_ELEMENT.has(codec) || spec.name !== PARTITIONED) expect(gathered[i], spec.name).toBe(reference[i]);
          else expect(gathered[i], `${spec.name}: top-k chosen per partition`).not.toBe(reference[i]);
        });
        // Lossy codecs left something for the next push on each task, kept per slice.
        if (codec !== 'fp32') for (const t of [0, 1]) expect(sliceWorker.residual(t).some((r) => r.some((x) => x !== 0))).toBe(true);
      } finally {
        one.dispose();
      }
    });
  }

  it("PsTransport sends each task its slices in the job's codec, from the exchange's fp32 gradient", async () => {
    const jobId = 'job-transport-int8';
    const job = { jobId, tensors: MLP, codec: 'int8' as const, topkRatio: TOPK_RATIO };
    const initial = MLP.map((_, i) => seededValues(i + 1, MLP_SIZES[i]!, 0.2));
    const parts = placement.splitTensors(initial);
    for (let t = 0; t < 2; t++) {
      const msg = jobCreateMessage(keys, 1, { jobId, task: t, slices: placement.specsOf(t), initial: parts[t]!, optimizer, codec: 'int8', topkRatio: TOPK_RATIO });
      expect(await tasks.chiefs[t]!.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
    }
    const notices: GradientPush[] = [];
    const route = { tasks: tasks.runs.map((r, task) => ({ task, url: r.url, ticket: signer.sign({ worker: 'w', job: jobId, task }) })), placement };
    const transport = new PsTransport({ job, route, chief: async (p) => (notices.push(p), ok({ version: notices.length, staleness: 0 })) });
    try {
      const pulled = await transport.pull({ jobId });
      if (!pulled.ok) throw new Error(pulled.message);
      const grads = encodeTensors(MLP.map((s, i) => ({ ...s, values: seededValues(77 + i, MLP_SIZES[i]!, 0.1) })));
      expect(await transport.push({ jobId, leaseId: 'l', baseVersion: pulled.version, batches: 1, loss: 1, ...grads })).toEqual({ ok: true, version: 1, staleness: 0 });
      // Every task took its slices (int8 decoded by its gate) and gave a receipt; the chief got no payload.
      expect(notices[0]!.psReceipts?.map((r) => [r.task, r.version])).toEqual([[0, 1], [1, 1]]);
      expect(notices[0]!.data.byteLength).toBe(0);
    } finally {
      transport.dispose();
    }
  });
});
