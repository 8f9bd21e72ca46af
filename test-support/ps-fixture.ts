/**
 * What the tests that compare ps tasks with one process share: the mlp's tensors,
 * seeded values, a digest of exact bits, and N real ps tasks on port 0, each with a
 * chief's control client and a worker's client.
 */
import { createHash } from 'node:crypto';
import { seededRandom } from '../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../shared/tensors.js';
import { connectChief, connectPsWorker, startPsTask, type PsControlClient, type PsWorkerClient, type RunningPsTask } from './ps-clients.js';
import type { PsTaskOptions } from '../server/ps-task/ps-task.js';

/** The mlp preset on MNIST: 784-128-10. */
export const MLP: TensorSpec[] = [
  { name: 'dense1/kernel', shape: [784, 128] },
  { name: 'dense1/bias', shape: [128] },
  { name: 'output/kernel', shape: [128, 10] },
  { name: 'output/bias', shape: [10] },
];
export const MLP_SIZES = MLP.map((s) => sizeOf(s.shape));

/** `n` values in ±scale/2, the same for the same seed. */
export function seededValues(seed: number, n: number, scale: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale);
}

/** A digest of the exact bits (deep-equality of 400 KB buffers would take seconds). */
export function bits(a: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

export interface PsTaskFixture {
  runs: RunningPsTask[];
  chiefs: PsControlClient[];
  workers: PsWorkerClient[];
  close(): Promise<void>;
}

/** `count` real ps tasks, each with a connected chief and worker client; `options` may differ per task (a data dir each). */
export async function startPsTasks(count: number, options: PsTaskOptions | ((task: number) => PsTaskOptions)): Promise<PsTaskFixture> {
  const f: PsTaskFixture = {
    runs: [],
    chiefs: [],
    workers: [],
    async close() {
      [...f.chiefs, ...f.workers].forEach((s) => s.disconnect());
      await Promise.all(f.runs.map((r) => r.close()));
    },
  };
  for (let t = 0; t < count; t++) {
    const run = await startPsTask(typeof options === 'function' ? options(t) : options);
    f.runs.push(run);
    f.chiefs.push(await connectChief(run.url));
    f.workers.push(await connectPsWorker(run.url));
  }
  return f;
}
