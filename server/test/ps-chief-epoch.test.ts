/**
 * A ps task keeps the highest chief epoch it accepted in its data directory: a real task
 * process that saw chief epoch 10, SIGKILLed and started again on the same data dir,
 * still refuses epoch 9 (STALE_CHIEF) and takes 10 and above. Without the file a
 * restarted task took any epoch, so a deposed chief that still ran could act again.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { connectChief, type PsControlClient } from '../../test-support/ps-clients.js';
import { forkPsTask, type PsTaskProcess } from '../../test-support/ps-process.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { ChiefEpochFile } from '../ps-task/chief-epoch-file.js';

const TOKEN = 'ps-chief-epoch-test-cluster-token-0123456789';
const keys = deriveClusterKeys(TOKEN);
const root = mkdtempSync(join(tmpdir(), 'downpour-ps-epoch-'));
const tokenFile = join(root, 'cluster-token');
writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
const procs: PsTaskProcess[] = [];
const sockets: PsControlClient[] = [];

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  for (const p of procs) await p.kill();
  rmSync(root, { recursive: true, force: true });
});

async function status(url: string, epoch: number) {
  const chief = await connectChief(url);
  sockets.push(chief);
  return chief.timeout(10_000).emitWithAck('task:status', { chief: chiefCredential(keys, epoch, 'task:status') });
}

it('a task restarted from its data dir refuses a chief older than the newest it ever accepted', async () => {
  const dataDir = join(root, 'ps0');
  const first = await forkPsTask(dataDir, tokenFile);
  procs.push(first);
  expect(await status(first.url, 10)).toMatchObject({ ok: true, epoch: 10 });
  expect(readFileSync(join(dataDir, 'chief-epoch'), 'utf8')).toBe('10\n');

  await first.kill();
  const again = await forkPsTask(dataDir, tokenFile, first.port);
  procs.push(again);
  expect(await status(again.url, 9)).toMatchObject({ ok: false, code: ErrorCode.STALE_CHIEF });
  expect(await status(again.url, 10)).toMatchObject({ ok: true, epoch: 10 });
  expect(await status(again.url, 12)).toMatchObject({ ok: true, epoch: 12 });
  expect(new ChiefEpochFile(dataDir).read()).toBe(12);
}, 120_000);

it('a damaged epoch file stops the task rather than letting it trust any chief', () => {
  const dir = join(root, 'damaged');
  const file = new ChiefEpochFile(dir);
  expect(file.read()).toBe(0);
  file.write(7);
  expect(file.read()).toBe(7);
  writeFileSync(join(dir, 'chief-epoch'), 'seven');
  expect(() => file.read()).toThrow(/does not hold a chief epoch/);
});
