/**
 * A ps task applies on its event loop alone unless told otherwise
 * (PS_TASK_APPLY_SETTINGS): on a shared host the apply pool's helpers cost a task more
 * CPU per push than they save (bench ps-scale, docs/cluster.md). Where the threads are
 * must not change what a push does: the same pushes through a task on the event loop
 * and one on the pool leave the same bits.
 */
import { describe, expect, it } from 'vitest';
import { asBytes, encodeTensors } from '../../shared/codec.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { jobCreateMessage } from '../../test-support/ps-clients.js';
import { bits, seededValues } from '../../test-support/ps-fixture.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { DEFAULT_APPLY_SETTINGS } from '../params/apply-engine.js';
import { jobCreateSchema } from './schemas.js';
import { TaskJob } from './task-job.js';

const keys = deriveClusterKeys('task-job-test-cluster-token-0123456789abc');
/** Above DEFAULT_APPLY_SETTINGS.parallelFromParams, so that a store with threads would use them. */
const SLICES: TensorSpec[] = [
  { name: 'dense/kernel', shape: [600, 512] },
  { name: 'dense/bias', shape: [512] },
];
const SIZES = SLICES.map((s) => sizeOf(s.shape));

function taskJob(apply: Parameters<typeof TaskJob.create>[1]): TaskJob {
  const msg = jobCreateMessage(keys, 1, { jobId: 'j', task: 0, slices: SLICES, initial: SIZES.map((n, i) => seededValues(i + 1, n, 0.2)), optimizer: { type: 'adagrad', learningRate: 0.05 } });
  const job = TaskJob.create(jobCreateSchema.parse(msg), apply);
  if ('ok' in job) throw new Error(`${job.code}: ${job.message}`);
  return job;
}

describe('a ps task job applies on its event loop by default', () => {
  it('uses no apply threads unless its task was given some', () => {
    expect(SIZES.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(DEFAULT_APPLY_SETTINGS.parallelFromParams);
    const plain = taskJob(undefined);
    const pooled = taskJob({ ...DEFAULT_APPLY_SETTINGS, threads: 2 });
    try {
      expect(plain.applyThreads).toBe(1);
      expect(pooled.applyThreads).toBe(2);
    } finally {
      plain.dispose();
      pooled.dispose();
    }
  });

  it('leaves the same parameters, bit for bit, as a job on the apply pool', () => {
    const plain = taskJob(undefined);
    const pooled = taskJob({ ...DEFAULT_APPLY_SETTINGS, threads: 2 });
    try {
      for (let k = 0; k < 4; k++) {
        const { manifest, data } = encodeTensors(SLICES.map((s, i) => ({ ...s, values: seededValues(100 * k + i, SIZES[i]!, 0.1) })));
        for (const job of [plain, pooled]) expect(job.push('w', k, manifest, data)).toEqual({ ok: true, version: k + 1, staleness: 0 });
      }
      // Values and the optimizer state, as a checkpoint part would carry them.
      const state = (job: TaskJob) => {
        const bytes = asBytes(job.snapshot().data);
        return bits(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
      };
      expect(state(plain)).toBe(state(pooled));
    } finally {
      plain.dispose();
      pooled.dispose();
    }
  });
});
