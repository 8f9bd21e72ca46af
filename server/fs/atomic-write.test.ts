import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic-write.js';

describe('writeFileAtomic', () => {
  it('writes of one path at once each land whole (their temporary files do not collide), leaving no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const path = join(dir, 'same.csv');
    const contents = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024, 65 + i));
    await Promise.all(contents.map((c) => writeFileAtomic(path, c)));
    const written = readFileSync(path);
    expect(contents.some((c) => c.equals(written))).toBe(true);
    expect(readdirSync(dir)).toEqual(['same.csv']);
  });

  it('a failed write leaves no temporary file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    // Renaming a file over a directory fails.
    mkdirSync(join(dir, 'taken'));
    mkdirSync(join(dir, 'taken', 'x'));
    await expect(writeFileAtomic(join(dir, 'taken', 'x'), Buffer.from('a'))).rejects.toThrow();
    expect(readdirSync(join(dir, 'taken'))).toEqual(['x']);
  });
});
