/**
 * `npm start` run as supervisors run it: in its own process group, stopped by one
 * SIGTERM to the group (which npm also relays). One clean shutdown: exit 0, a
 * checkpoint where the job moved, the local workers' Chromium gone. And the
 * coordinator without --workers never loads playwright-core.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { JobSummary } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { ProcessGroup } from '../../farm/process-group.js';
import { descendants, isAlive, isChromium, signalProcess, type ProcessInfo } from '../../farm/process-tree.js';
import { connectTestWorker, leaseShard, pushWithSlots } from '../../test-support/index.js';

/** Loaded into the coordinator's process (NODE_OPTIONS): at exit it writes which playwright-core files it loaded. */
const LOADED_PROBE = `
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
if (process.argv[1]?.endsWith('main.ts')) {
  process.on('exit', () => {
    const loaded = Object.keys(require.cache).filter((f) => f.includes('playwright-core'));
    writeFileSync(process.env.LOADED_PROBE_OUT, JSON.stringify(loaded));
  });
}
`;

let coordinator: ProcessGroup | null = null;
const seen = new Set<ProcessInfo>();
afterEach(() => {
  coordinator?.kill();
  for (const p of seen) signalProcess(p, 'SIGKILL');
  seen.clear();
});

function start(dataDir: string, args: string[], env: NodeJS.ProcessEnv = {}): ProcessGroup {
  coordinator = new ProcessGroup(
    'start',
    // fp32: the test pushes dense gradients by hand (the default job's codec is topk-packed).
    ['--port', '0', '--host', '127.0.0.1', '--no-build', '--data-dir', dataDir, '--model', 'mlp', '--codec', 'fp32', ...args],
    { DOWNPOUR_LOG: 'info', ...env },
  );
  return coordinator;
}

async function urlOf(group: ProcessGroup): Promise<string> {
  return (await group.waitForLine(/open (http:\/\/\S+?)\/? to donate/, 60_000))[1]!;
}

/** The versions of the job's checkpoint files, oldest first. */
function checkpointVersions(dataDir: string, jobId: string): number[] {
  return readdirSync(join(dataDir, 'checkpoints', jobId))
    .map((name) => /^ckpt-(\d+)\.dpck$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

it('the coordinator alone: one SIGTERM to the group checkpoints where the job moved and exits 0, without playwright-core', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'downpour-group-stop-'));
  const dataDir = join(dir, 'data');
  writeFileSync(join(dir, 'probe.mjs'), LOADED_PROBE);
  const loadedOut = join(dir, 'loaded.json');
  const group = start(dataDir, [], {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(dir, 'probe.mjs')}`,
    LOADED_PROBE_OUT: loadedOut,
  });
  const url = await urlOf(group);

  // Move the job: three pushes from a socket.io worker.
  const worker = await connectTestWorker(url);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('no job');
  const { jobId, tensors } = hello.job;
  let version = 0;
  const { leaseId } = await leaseShard(worker, jobId);
  for (let i = 0; i < 3; i++) {
    const payload = encodeTensors(tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
    const ack = await pushWithSlots(worker, { jobId, leaseId, baseVersion: version, batches: 1, loss: 2, ...payload });
    if (!ack.ok) throw new Error(ack.message);
    version = ack.version;
  }
  worker.disconnect();
  expect(version).toBe(3);

  group.signal('SIGTERM');
  expect(await group.exited, group.log).toEqual({ code: 0, signal: null });
  expect(group.log).not.toMatch(/exiting without waiting/);
  expect(checkpointVersions(dataDir, jobId).at(-1)).toBe(3);
  expect(JSON.parse(readFileSync(loadedOut, 'utf8')), 'playwright-core files loaded without --workers').toEqual([]);
});

it('with --workers 1: one SIGTERM to the group closes the browser, checkpoints where the job moved and exits 0', { timeout: 180_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-group-stop-'));
  const group = start(dataDir, ['--workers', '1', '--backend', 'wasm']);
  const url = await urlOf(group);
  await group.waitForLine(/local workers started/, 60_000);
  const chromiums = descendants(group.pid).filter(isChromium);
  for (const p of chromiums) seen.add(p);
  expect(chromiums.length).toBeGreaterThan(0);

  // The local worker trains: the job's version moves.
  let moved: JobSummary | undefined;
  await vi.waitFor(
    async () => {
      const jobs = (await (await fetch(`${url}/api/jobs`)).json()) as JobSummary[];
      moved = jobs.find((j) => j.version > 0);
      expect(moved, group.log).toBeDefined();
    },
    { timeout: 120_000, interval: 500 },
  );

  group.signal('SIGTERM');
  expect(await group.exited, group.log).toEqual({ code: 0, signal: null });
  expect(group.log).not.toMatch(/exiting without waiting/);
  expect(checkpointVersions(dataDir, moved!.id).at(-1)).toBeGreaterThanOrEqual(moved!.version);
  await vi.waitFor(() => expect(chromiums.filter(isAlive), 'Chromium processes left behind').toEqual([]), { timeout: 10_000, interval: 200 });
});
