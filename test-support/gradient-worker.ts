/**
 * A socket.io worker that computes real gradients: the browser's ModelTrainer on the
 * mini-batches of a real shard it leased, at parameters it just pulled, pushed as fp32.
 * A factor turns it into a Byzantine worker (−1: the sign-flip attack).
 */
import { batchesOf, fetchShard } from '../client/engine/shard-data.js';
import type { Batch } from '../client/engine/model-trainer.js';
import { encodeTensors } from '../shared/codec.js';
import type { PushAccepted } from '../shared/protocol.js';
import type { Result } from '../shared/result.js';
import { seededRandom } from '../shared/seeded-random.js';
import { joinAsTrainer, type TrainingWorker } from './workers.js';

/** A gradient and the version it was computed on. */
export interface ComputedGradient {
  version: number;
  grads: Float32Array[];
}

export interface GradientWorker {
  joined: TrainingWorker;
  /** The leased shard's mini-batches, in a fixed order. */
  batches: Batch[];
  /** The gradient of `batch` at freshly pulled parameters, times `factor`. */
  gradientAtPulled(batch: Batch, factor?: number): Promise<ComputedGradient>;
  push(g: ComputedGradient): Promise<Result<PushAccepted>>;
  close(): void;
}

export async function joinAsGradientWorker(url: string): Promise<GradientWorker> {
  const joined = await joinAsTrainer(url);
  const { worker, job, trainer } = joined;
  const leased = await worker.emitWithAck('shard:lease', { jobId: job.jobId });
  if (!leased.ok || !leased.lease) {
    joined.close();
    throw new Error('the gradient worker got no shard');
  }
  const batches = [...batchesOf(await fetchShard(url + leased.lease.url), job.batchSize, seededRandom(7))];
  return {
    joined,
    batches,
    async gradientAtPulled(batch, factor = 1) {
      const { version, values } = await joined.pull();
      trainer.setParams(values);
      const g = await trainer.gradient(batch);
      return { version, grads: g.grads.map((a) => a.map((v) => v * factor)) };
    },
    push({ version, grads }) {
      const payload = encodeTensors(job.tensors.map((s, i) => ({ ...s, values: grads[i]! })));
      return worker.emitWithAck('grads:push', { jobId: job.jobId, baseVersion: version, batches: 1, examples: batches[0]?.size ?? 1, loss: 2.3, ...payload });
    },
    close: () => joined.close(),
  };
}
