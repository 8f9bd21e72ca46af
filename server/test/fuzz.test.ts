/**
 * Hostile input: at least 10,000 malformed worker messages through real socket.io
 * clients. The coordinator stays up, every message gets a coded refusal or its socket
 * is disconnected, the fuzzed job's parameters stay bit-identical (no valid push is in
 * the fuzz), and an honest worker on another job keeps training meanwhile. The fuzzer
 * pushes on a real lease, so its pushes reach the gradient checks; when its faults cost
 * it the lease (three in a row), it comes back as a new worker, as an attacker would.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { encodeTensors } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import type { Job } from '../jobs/job.js';
import { connectTestWorker, LeasedPusher, startCoordinator, type Running, type TestWorker, localParameters } from '../../test-support/index.js';
import { noOutcomes, sendFuzzed, type FuzzOutcome } from '../../test-support/fuzz-answers.js';

const MESSAGES = 10_000;
let run: Running;
let target: Job;

beforeAll(async () => {
  // The fuzz must reach validation, not only the rate limiter: a generous limit here;
  // floods below still exceed it.
  run = await startCoordinator({ model: 'mlp', name: 'honest' }, { workerGuard: { messagesPerSecond: 20_000, burst: 3000, maxStrikes: 400 } });
  const created = await run.coordinator.createJob({ model: 'mlp', name: 'fuzzed', priority: 10 }, { start: false });
  if (!created.ok) throw new Error(created.message);
  target = created.job;
});
afterAll(async () => run?.close());

it(`survives ${MESSAGES} malformed messages with coded refusals, untouched parameters and an honest worker training`, async () => {
  // The honest worker joins while only its job runs; then the fuzzed job (higher priority) starts.
  const honest = await connectTestWorker(run.url);
  const hh = await honest.emitWithAck('worker:hello', { userAgent: 'honest' });
  if (!hh.ok || !hh.job) throw new Error('honest worker got no job');
  expect(hh.job.jobId).toBe(run.job.id);
  target.control('start');
  const before = localParameters(target).store.tensors.map((t) => Buffer.from(t.values.slice().buffer));
  const versionBefore = target.version;

  let honestRunning = true;
  let honestAccepted = 0;
  const honestLoop = (async () => {
    const job = hh.job as JobAssignment;
    const pusher = new LeasedPusher(honest, job.jobId);
    while (honestRunning) {
      const snap = await honest.emitWithAck('params:pull', { jobId: job.jobId });
      if (!snap.ok) continue;
      const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-4) })));
      const r = await pusher.push({ baseVersion: snap.version, loss: 1, ...payload });
      if (r.ok) honestAccepted++;
    }
  })();

  const rand = seededRandom(1234);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const tensors = target.assignment().tensors;
  /** The fuzzer's current lease (a fresh socket leases one). */
  let leaseId = 'L0';
  const good = () => {
    const p = encodeTensors(tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
    return { jobId: target.id, leaseId, baseVersion: 0, batches: 1, loss: 1, manifest: p.manifest, data: p.data as Uint8Array };
  };
  let template = good();
  const malformed: (() => [string, unknown])[] = [
    () => ['grads:push', pick([null, 42, 'x', [], true, { jobId: 5 }, { __proto__: { ok: true } }])],
    () => [`evil:${Math.floor(rand() * 1e6)}`, { jobId: target.id }],
    () => ['grads:push', { ...template, manifest: { ...template.manifest, tensors: template.manifest.tensors.map((t, i) => (i === 0 ? { ...t, shape: [1e9, 1e9] } : t)) } }],
    () => ['grads:push', { ...template, manifest: { ...template.manifest, tensors: template.manifest.tensors.map((t, i) => (i === 1 ? { ...t, shape: [-1] } : t)) } }],
    () => ['grads:push', { ...template, manifest: { ...template.manifest, tensors: template.manifest.tensors.slice(0, 2) } }],
    () => {
      const p = good();
      new Float32Array(p.data.buffer)[Math.floor(rand() * 1000)] = pick([NaN, Infinity, -Infinity]);
      return ['grads:push', p];
    },
    () => ['grads:push', { ...template, data: template.data.subarray(0, Math.floor(rand() * template.data.length)) }],
    () => ['grads:push', { ...template, data: new Uint8Array(template.data.length + 70_000) }],
    () => ['grads:push', { ...template, jobId: pick(['job-999', '', 'x'.repeat(100_000), run.job.id]) }],
    () => ['grads:push', { ...template, baseVersion: pick([1e9, -5, 0.5, Number.MAX_SAFE_INTEGER, NaN]) }],
    () => ['grads:push', { ...template, manifest: { ...template.manifest, codec: pick(['fp64', '', '__proto__', 'constructor']) } }],
    () => ['shard:complete', { jobId: target.id, leaseId: `L${Math.floor(rand() * 1e9)}` }],
    () => ['shard:complete', pick([{}, { leaseId: 3 }, 'L1'])],
    () => ['worker:hello', pick([{}, { userAgent: 'y'.repeat(10_000) }, { userAgent: 1 }])],
    () => ['params:pull', pick([{ jobId: 'job-999' }, { jobId: { $ne: 1 } }, null, { jobId: target.id, have: pick([-1, 0.5, 'v1', 1e300, {}]) }])],
    () => ['shard:lease', pick([{ jobId: 7 }, [], { jobId: 'job-0' }])],
    () => ['grads:push', { ...template, batches: pick([0, 2, 100_000, 0.5, -1]) }],
    () => ['grads:push', { ...template, leaseId: pick(['L1', 'L999999', '', 7, null]) }],
    () => ['grads:push', { ...template, loss: pick([null, -1, 1e300, 16.3, 'x']) }],
    () => ['grads:push', { ...template, examples: 1e8, loss: NaN }],
    () => ['grads:push', { ...template, manifest: { ...template.manifest, tensors: template.manifest.tensors.map((t) => ({ ...t, dtype: 'float64' })) } }],
  ];

  const outcomes = noOutcomes();
  let sent = 0;
  let sockets = 0;
  let socket: TestWorker | null = null;
  /** Set when the fuzzer's faults cost it its lease: it comes back as a new worker. */
  let barred = false;

  const fresh = async () => {
    socket?.disconnect();
    socket = await connectTestWorker(run.url);
    sockets++;
    const h = await socket.emitWithAck('worker:hello', { userAgent: 'fuzzer' });
    expect(h.ok && h.job?.jobId).toBe(target.id);
    const l = await socket.emitWithAck('shard:lease', { jobId: target.id });
    leaseId = l.ok && l.lease ? l.lease.leaseId : 'L0';
    template = good();
    barred = false;
  };
  await fresh();

  const seen = new Map<string, number>();
  // A lease lost or a bar ends this worker's part: the next round comes back as a new one.
  const faults = () => (seen.get('LEASE_LOST') ?? 0) + (seen.get('WORKER_BARRED') ?? 0);
  const send = async (s: TestWorker, event: string, payload: unknown): Promise<FuzzOutcome> => {
    const before = faults();
    const outcome = await sendFuzzed(s, event, payload, seen);
    if (faults() > before) barred = true;
    return outcome;
  };

  while (sent < MESSAGES) {
    if (!socket!.connected || barred) await fresh();
    const s = socket!;
    // Every 25th round is a flood: a burst far beyond the rate limit.
    const flood = Math.floor(sent / 100) % 25 === 24;
    const batch = flood ? 400 : 100;
    const round = Array.from({ length: batch }, () => (flood ? (['params:pull', { jobId: target.id }] as [string, unknown]) : pick(malformed)()));
    const results = await Promise.all(round.map(([e, p]) => send(s, e, p)));
    for (const r of results) outcomes[r]++;
    sent += batch;
  }
  // A payload over the socket's own message cap: engine.io drops the connection.
  const big = await connectTestWorker(run.url);
  await big.emitWithAck('worker:hello', { userAgent: 'big' });
  const huge = await send(big, 'grads:push', { ...template, data: new Uint8Array(17 * 1024 * 1024 + 100_000) });
  outcomes[huge]++;

  honestRunning = false;
  await honestLoop;
  socket!.disconnect();
  honest.disconnect();

  expect(sent).toBeGreaterThanOrEqual(MESSAGES);
  expect(outcomes['accepted-push']).toBe(0);
  expect(outcomes['bad-answer']).toBe(0);
  expect(outcomes.refused).toBeGreaterThan(MESSAGES / 2);
  expect(outcomes.disconnected).toBeGreaterThan(0);
  expect(huge).toBe('disconnected');
  expect(sockets).toBeGreaterThan(1); // misbehaving sockets were cut off
  expect(target.version).toBe(versionBefore);
  localParameters(target).store.tensors.forEach((t, i) => expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(before[i]!)).toBe(true));
  expect(honestAccepted).toBeGreaterThan(10);
  expect((await (await fetch(run.url + '/api/health')).json()).ok).toBe(true);
}, 240_000); // ~15 s alone; generous for a loaded 2-core CI machine
