/**
 * The data cap on a real rate-limited link: a Node worker (bench/node-worker.ts, the
 * page's BatchPacer and TrafficMeter) runs in a network namespace whose veth pair is
 * shaped to 20 Mbit/s (tc tbf) and trains an fp32 mlp (~400 kB each push and pull) with
 * a cap of 720 MB/hour (200 kB/s), a tenth of what the link carries. At every sample the
 * link's own counters must stay under the cap's bound (the bucket's burst, the cap's
 * rate, one batch's exchange and one shard beyond it), the worker must keep training,
 * and its own count must agree with the link's within TCP/IP framing.
 *
 * Needs root and iproute2 (CI runs as root on Debian and installs iproute2). Where
 * `ip netns` is unusable the test fails and says why; only DOWNPOUR_NO_NETNS=1 (a
 * machine that cannot make namespaces, e.g. an unprivileged container) skips it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { createShapedLink, netnsUnavailable, type LinkBytes, type ShapedLink } from '../../bench/netns-link.js';
import type { NodeWorkerMessage, NodeWorkerProgress } from '../../bench/node-worker.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import { setLogLevel } from '../logger.js';
import { NO_LATE_SLOTS } from '../../test-support/index.js';

const WORKER_FILE = fileURLToPath(new URL('../../bench/node-worker.ts', import.meta.url));
const CAP_MB_PER_HOUR = 720;
const CAP_BYTES_PER_S = (CAP_MB_PER_HOUR * 1e6) / 3600;
/** The bucket's size at this cap: 30 s of it (client/engine/data-cap.ts). */
const BURST_BYTES = CAP_BYTES_PER_S * 30;
/** One batch's exchange (an fp32 push and pull of the mlp's ~102k parameters, ~410 kB each) and a shard (1000 × 784 bytes): what the bucket may go into debt by. */
const ONE_BATCH_AND_SHARD = 2 * 420_000 + 800_000;
const RUN_MS = 40_000;

const skip = process.env.DOWNPOUR_NO_NETNS === '1';
let link: ShapedLink | null = null;
let coordinator: Coordinator | null = null;
let worker: ChildProcess | null = null;
afterAll(async () => {
  worker?.kill('SIGKILL');
  await coordinator?.close();
  link?.close();
});

const total = (b: LinkBytes) => b.rx + b.tx;

it.skipIf(skip)('a worker behind a 20 Mbit/s link trains and stays under its 720 MB/hour cap', { timeout: 90_000 }, async () => {
  const why = netnsUnavailable();
  if (why) throw new Error(`${why}. This test needs root and iproute2 (apt-get install -y iproute2); set DOWNPOUR_NO_NETNS=1 only on a machine that cannot make network namespaces.`);
  link = createShapedLink({ rate: '20mbit' });
  setLogLevel('warn');
  coordinator = createCoordinator({ slots: NO_LATE_SLOTS });
  const created = await coordinator.createJob({ model: 'mlp', codec: 'fp32', evalIntervalSeconds: 3600 });
  if (!created.ok) throw new Error(created.message);
  const { port } = await coordinator.listen(0, link.hostAddress);

  const before = link.bytes();
  const samples: { at: number; bytes: number; engine: number }[] = [];
  let progress: NodeWorkerProgress | null = null;
  const argv = link.exec([process.execPath, '--import', 'tsx', WORKER_FILE, `http://${link.hostAddress}:${port}`, '--data-cap-mb-per-hour', String(CAP_MB_PER_HOUR)]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  worker = child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let startedAt = 0;
  // Sampled at each of the worker's progress reports (every 2 s), not on a timer of our own.
  const done = new Promise<void>((resolve, reject) => {
    child.on('message', (m: NodeWorkerMessage) => {
      if (m.type === 'ready') startedAt = performance.now();
      if (m.type === 'exit') reject(new Error(`the worker left: ${m.reason}`));
      if (m.type !== 'progress') return;
      progress = m.progress;
      const at = performance.now() - startedAt;
      samples.push({ at, bytes: total(link!.bytes()) - total(before), engine: m.progress.bytesSent + m.progress.bytesReceived });
      if (at >= RUN_MS) resolve();
    });
    void exited.then((code) => reject(new Error(`the worker exited (${code}) before the run ended`)));
  });
  await done;
  const last = progress as NodeWorkerProgress | null;
  if (!last) throw new Error('no progress');

  // Under the cap at every sample: the burst, the cap's rate since the start, one batch beyond.
  for (const s of samples) expect(s.bytes, `${s.bytes} bytes after ${(s.at / 1000).toFixed(1)} s`).toBeLessThanOrEqual(BURST_BYTES + CAP_BYTES_PER_S * (s.at / 1000) + ONE_BATCH_AND_SHARD);
  // Once the burst is spent, the rate is the cap's: bytes over the run's second half.
  const mid = samples.find((s) => s.at >= RUN_MS / 2)!;
  const end = samples[samples.length - 1]!;
  const steadyRate = (end.bytes - mid.bytes) / ((end.at - mid.at) / 1000);
  expect(steadyRate).toBeLessThanOrEqual(CAP_BYTES_PER_S * 1.1 + ONE_BATCH_AND_SHARD / ((end.at - mid.at) / 1000));
  // It trained, and the cap is what held it back (the link carries ten times the cap).
  expect(last.pushesAccepted).toBeGreaterThanOrEqual(10);
  expect(last.heldByDataCapMs).toBeGreaterThan(RUN_MS / 4);
  // The engine's count is the link's less TCP/IP framing (headers and ACKs: a few percent) and HTTP headers.
  const engine = last.bytesSent + last.bytesReceived;
  const wire = end.bytes;
  expect(engine).toBeLessThanOrEqual(wire);
  expect(wire).toBeLessThanOrEqual(engine * 1.1 + 64 * 1024);
  process.stderr.write(
    `[data-cap-link] ${(end.at / 1000).toFixed(1)} s: link ${(wire / 1e6).toFixed(2)} MB, engine ${(engine / 1e6).toFixed(2)} MB (link/engine ${(wire / engine).toFixed(3)}), ` +
      `second-half rate ${(steadyRate / 1000).toFixed(0)} kB/s (cap ${(CAP_BYTES_PER_S / 1000).toFixed(0)} kB/s), ${last.pushesAccepted} pushes, held ${(last.heldByDataCapMs / 1000).toFixed(1)} s\n`,
  );
});
