import { existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyStats } from '../jobs/job-stats.js';
import type { CheckpointContent } from './checkpoint-format.js';
import { CheckpointCancelledError, CheckpointStore } from './checkpoint-store.js';

function content(version: number): CheckpointContent {
  return {
    jobId: 'job-1',
    at: 1000 + version,
    store: {
      version,
      applies: version,
      tensors: [
        { values: Float32Array.from([version, 2, 3]), slots: [Float32Array.from([0.1, 0.2, 0.3])] },
        { values: Float32Array.from([4]), slots: [Float32Array.from([0.4])] },
      ],
    },
    ledger: { completedEpochs: 1, nextLeaseId: 9, open: [{ epoch: 1, pending: [2, 0], done: [1] }], history: [[1, 1, 1], [0, 1, 0]] },
    stats: { ...emptyStats(), pushesAccepted: version, examplesSeen: version * 64 },
  };
}

describe('checkpoint store', () => {
  it('round-trips parameters, optimizer slots, ledger and counters', async () => {
    const store = new CheckpointStore(mkdtempSync(join(tmpdir(), 'ckpt-')));
    await store.write(content(5));
    const back = (await store.latestValid('job-1'))!;
    expect(back.store.version).toBe(5);
    expect([...back.store.tensors[0]!.values]).toEqual([5, 2, 3]);
    expect([...back.store.tensors[1]!.slots[0]!]).toEqual([Math.fround(0.4)]);
    expect(back.ledger).toEqual(content(5).ledger);
    expect(back.stats.examplesSeen).toBe(320);
  });

  it('keeps the last K and leaves no temporary files', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const store = new CheckpointStore(root, 2);
    for (const v of [1, 2, 3, 4]) await store.write(content(v));
    expect((await store.list('job-1')).map((c) => c.version)).toEqual([3, 4]);
    expect(readdirSync(join(root, 'job-1')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('never loads a torn or damaged checkpoint: it falls back to the previous one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const store = new CheckpointStore(root, 5);
    await store.write(content(7));
    const newest = await store.write(content(8));
    const file = join(root, 'job-1', newest.name);
    // A crash mid-write: the file holds only its first bytes.
    truncateSync(file, newest.bytes - 5);
    expect((await store.latestValid('job-1'))!.store.version).toBe(7);
    // A flipped payload byte fails the checksum.
    await store.write(content(9));
    const nine = join(root, 'job-1', 'ckpt-000000000009.dpck');
    const bytes = readFileSync(nine);
    bytes[bytes.length - 2] ^= 0xff;
    writeFileSync(nine, bytes);
    expect((await store.latestValid('job-1'))!.store.version).toBe(7);
  });

  it('serves only its own checkpoint names (no path escapes)', async () => {
    const store = new CheckpointStore(mkdtempSync(join(tmpdir(), 'ckpt-')));
    await store.write(content(3));
    expect(await store.path('job-1', 'ckpt-000000000003.dpck')).toMatch(/ckpt-000000000003\.dpck$/);
    expect(await store.path('job-1', '../../etc/passwd')).toBeNull();
    expect(await store.path('job-1', 'ckpt-000000000004.dpck')).toBeNull();
  });
});

describe('removal', () => {
  it('wins over a write in flight: the folder is gone once both settle', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const store = new CheckpointStore(root);
    await store.write(content(1));
    const inFlight = store.write(content(2));
    const removed = store.remove('job-1');
    await Promise.allSettled([inFlight, removed]);
    expect(existsSync(join(root, 'job-1'))).toBe(false);
  });

  it('cancels a write that comes after it (a deleted job checkpoints once more when its stop\'s evaluation returns)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const store = new CheckpointStore(root);
    await store.write(content(1));
    await store.remove('job-1');
    await expect(store.write(content(2))).rejects.toBeInstanceOf(CheckpointCancelledError);
    expect(existsSync(join(root, 'job-1'))).toBe(false);
    expect(readdirSync(root)).toEqual([]);
  });
});
