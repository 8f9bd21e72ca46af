import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLUSTER_TOKEN_FILE, resolveClusterToken } from './cluster-token.js';

const dir = mkdtempSync(join(tmpdir(), 'cluster-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the cluster token', () => {
  it('is generated once in the data dir, readable by its owner only, and read back after', () => {
    const dataDir = join(dir, 'data');
    const first = resolveClusterToken({ dataDir });
    expect(first).toMatchObject({ ok: true, generated: true, file: join(dataDir, CLUSTER_TOKEN_FILE) });
    if (!first.ok) return;
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(resolveClusterToken({ dataDir })).toEqual({ ...first, generated: false });
  });

  it('is read from --token-file, trimmed', () => {
    const file = join(dir, 'token');
    writeFileSync(file, '  abcdefghijklmnopqrstuvwxyz0123456789\n');
    expect(resolveClusterToken({ tokenFile: file, dataDir: join(dir, 'unused') })).toEqual({ ok: true, token: 'abcdefghijklmnopqrstuvwxyz0123456789', file, generated: false });
  });

  it('refuses a --token-file that is not there instead of making a new token', () => {
    const file = join(dir, 'typo');
    expect(resolveClusterToken({ tokenFile: file, dataDir: dir })).toEqual({ ok: false, code: 'TOKEN_FILE_MISSING', message: `--token-file ${file}: no such file` });
    expect(() => readFileSync(file)).toThrow();
  });

  it('refuses a weak or garbled token', () => {
    const short = join(dir, 'short');
    writeFileSync(short, 'secret\n');
    expect(resolveClusterToken({ tokenFile: short, dataDir: dir })).toMatchObject({ ok: false, code: 'BAD_TOKEN', message: expect.stringMatching(/at least 32 characters/) });
    const spaced = join(dir, 'spaced');
    writeFileSync(spaced, 'a token with spaces that is long enough\n');
    expect(resolveClusterToken({ tokenFile: spaced, dataDir: dir })).toMatchObject({ ok: false, code: 'BAD_TOKEN' });
    expect(resolveClusterToken({ tokenFile: dir, dataDir: dir })).toMatchObject({ ok: false, code: 'TOKEN_FILE_UNREADABLE' });
  });
});
