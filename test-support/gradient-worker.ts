/**
 * A socket.io worker that computes real gradients: the browser's ModelTrainer on the
 * next mini-batch of the real shard it leased (the lease's batch plan, as a browser
 * trains it), at parameters it just pulled, pushed as fp32. A factor turns it into a
 * Byzantine worker (−1: the sign-flip attack; 100: the scaling attack).
 */
import { batchesOf, fetchShard } from '../client/engine/shard-data.js';
import type { Batch } from '../client/engine/model-trainer.js';
import { encodeTensors } from '../shared/codec.js';
import type { PushAccepted, ShardLeaseGrant } from '../shared/protocol.js';
import type { Result } from '../shared/result.js';
import { joinAsTrainer, leaseShard, pushWithSlots, type TrainingWorker } from './workers.js';

/** A gradient, the version it was computed on and the lease its batch came from. */
export interface ComputedGradient {
  version: number;
  leaseId: string;
  grads: Float32Array[];
}

export interface GradientWorker {
  joined: TrainingWorker;
  /** The gradient of the lease's next mini-batch (a new lease when this one is spent) at freshly pulled parameters, times `factor`. */
  gradientAtPulled(factor?: number): Promise<ComputedGradient>;
  push(g: ComputedGradient): Promise<Result<PushAccepted>>;
  close(): void;
}

export async function joinAsGradientWorker(url: string): Promise<GradientWorker> {
  const joined = await joinAsTrainer(url);
  const { worker, job, trainer } = joined;
  let lease: ShardLeaseGrant | null = null;
  let batches: Iterator<Batch> | null = null;
  const nextBatch = async (): Promise<{ lease: ShardLeaseGrant; batch: Batch }> => {
    const next = batches?.next();
    if (lease && next && !next.done) return { lease, batch: next.value };
    if (lease) await worker.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: lease.leaseId });
    lease = await leaseShard(worker, job.jobId);
    batches = batchesOf(await fetchShard(url + lease.url), job.batchSize, lease);
    return { lease, batch: batches.next().value as Batch };
  };
  return {
    joined,
    async gradientAtPulled(factor = 1) {
      const { lease: from, batch } = await nextBatch();
      const { version, values } = await joined.pull();
      trainer.setParams(values);
      const g = await trainer.gradient(batch);
      return { version, leaseId: from.leaseId, grads: g.grads.map((a) => a.map((v) => v * factor)) };
    },
    push({ version, leaseId, grads }) {
      const payload = encodeTensors(job.tensors.map((s, i) => ({ ...s, values: grads[i]! })));
      const push = { jobId: job.jobId, leaseId, baseVersion: version, batches: 1, loss: 2.3, ...payload };
      // On ps tasks the slices go to the tasks, and the chief hears of it with their receipts (or a task's refusal).
      return joined.ps ? joined.ps.push(push) : pushWithSlots(worker, push);
    },
    close: () => joined.close(),
  };
}
