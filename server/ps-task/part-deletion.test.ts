/**
 * A checkpoint part being written when its job is deleted (real files in a temporary
 * directory). The write's file operations and the removal of the job's folder
 * interleave in any order; whichever, no part of the deleted job is left, the write
 * answers UNKNOWN_JOB, and the removal does not fail. A job created again under that
 * id writes its parts as any job does.
 *
 * Checked to fail without the tombstone: a write whose file operations all came after
 * the removal (the first case: the removal done before the write reached the disk)
 * left its part in a folder it made again.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { CheckpointParts, type PartSource } from './checkpoint-parts.js';

const root = mkdtempSync(join(tmpdir(), 'downpour-part-deletion-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const N = 64 * 1024;
const source = (jobId: string, version = 1): PartSource => ({
  jobId,
  task: 0,
  version,
  applies: version,
  slotNames: ['accumulator'],
  slices: [{ spec: { name: 'dense/kernel', shape: [N] }, values: new Float32Array(N).fill(version), slots: [new Float32Array(N)] }],
});
/** Every file left under the job's folder (none when the folder is gone). */
const left = (jobId: string): string[] => (existsSync(join(root, jobId)) ? readdirSync(join(root, jobId), { recursive: true }).map(String) : []);

it('a part whose job was removed before the write reached the disk removes itself: no folder, no file, UNKNOWN_JOB', async () => {
  const parts = new CheckpointParts(root);
  expect(await parts.write(source('job-1'), 'first', [])).toMatchObject({ checkpointId: 'first' });
  expect(await parts.removeJob('job-1')).toBe(true);
  // The write's mkdir, file and rename all after the removal: the interleaving that left a part behind.
  expect(await parts.write(source('job-1', 2), 'late', [])).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_JOB });
  expect(left('job-1')).toEqual([]);
  expect(existsSync(join(root, 'job-1'))).toBe(false);
});

it('writes and removals started together, in either order: never a part left, never a removal that fails', async () => {
  const parts = new CheckpointParts(root);
  for (let i = 0; i < 12; i++) {
    const jobId = `job-race-${i}`;
    expect(await parts.write(source(jobId), 'before', [])).toMatchObject({ checkpointId: 'before' });
    const [written, removed] = i % 2 ? await Promise.all([parts.write(source(jobId, 2), 'during', []), parts.removeJob(jobId)]) : await Promise.all([parts.removeJob(jobId), parts.write(source(jobId, 2), 'during', [])]).then(([r, w]) => [w, r] as const);
    expect(written).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_JOB });
    expect(removed).toBe(true);
    expect(left(jobId)).toEqual([]);
  }
});

it('a job created again under a deleted id writes its parts; a write of the deleted one still under way leaves nothing', async () => {
  const parts = new CheckpointParts(root);
  expect(await parts.write(source('job-2'), 'old', [])).toMatchObject({ checkpointId: 'old' });
  const stale = parts.write(source('job-2', 2), 'stale', []);
  const removed = parts.removeJob('job-2');
  parts.revive('job-2');
  expect(await stale).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_JOB });
  expect(await removed).toBe(true);
  expect(left('job-2')).toEqual([]);
  expect(await parts.write(source('job-2', 3), 'new', [])).toMatchObject({ checkpointId: 'new', version: 3 });
  expect(left('job-2').filter((f) => f.endsWith('.part'))).toEqual([expect.stringMatching(/^task-0\/\d{12}-new\.part$/)]);
});
