/**
 * A sync round's close that one ps task missed. Task 0 runs in this process, task 1 as
 * its own process (server/ps-task/main.ts), SIGSTOPped just before the chief closes
 * round 0: task 0 closes, task 1's answer times out and it goes down. Then it is
 * SIGCONTed, and runs the close it had queued, but the chief never hears it. Once the
 * task answers the liveness probe, the chief's retry (on its clock) asks both tasks
 * again: each answers the version it already made and applies nothing twice, so the
 * round's workers are answered, both tasks are at version 1 with exactly the values of
 * a job whose round closed at the first try, and the next round closes as usual. A
 * checkpoint cut asked while the close is retried waits for it (the job's one gate for
 * closes and cuts, close-gate.ts): both parts are at round 1; without the gate task 0's
 * part was at round 1 and task 1's at round 0.
 * Without the retry the workers were refused and the tasks' versions stayed apart;
 * without the idempotent close the retry was refused CONFLICT (task 1 had moved on).
 * A task that stays stopped through every retry: the round's workers are refused, the
 * service reports it diverged, and the tasks no longer hold the job live (a rollback).
 * A restore to a cut asked while a close is retried waits for it too: a retry landing
 * on the loaded slices could otherwise close the restored round.
 */
import { expect, it, vi } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { Placement } from '../../shared/placement.js';
import type { PushAccepted } from '../../shared/protocol.js';
import type { Failure, Result } from '../../shared/result.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { bits, seededValues } from '../../test-support/ps-fixture.js';
import { useStoppableTaskPair } from '../../test-support/stoppable-task-pair.js';
import { CLOSE_RETRY_DELAYS_MS } from '../params/round-close-retry.js';
import { RemoteParameterService } from '../params/remote-parameter-service.js';

const TOKEN = 'ps-round-retry-test-cluster-token-0123456789';
const MODEL: TensorSpec[] = [
  { name: 'dense/kernel', shape: [64, 32] },
  { name: 'dense/bias', shape: [32] },
  { name: 'output/kernel', shape: [32, 4] },
  { name: 'output/bias', shape: [4] },
];
const SIZES = MODEL.map((s) => sizeOf(s.shape));
const INITIAL = MODEL.map((_, i) => seededValues(i + 1, SIZES[i]!, 1));
const PARTITION_BYTES = 4096;
const PLACEMENT = Placement.of(MODEL, { tasks: 2, partitionBytes: PARTITION_BYTES });
const WORKERS = ['w-1', 'w-2'];
const PROBE_MS = 100;
const parsed = parseJobSpec({ model: 'mlp', mode: 'sync', normBound: 0, directionThreshold: null, roundTimeoutSeconds: 25, optimizer: { type: 'momentum', learningRate: 0.05 } });
if (!parsed.ok) throw new Error(parsed.message);
const spec = parsed.value;
const gradient = (k: number, w: number) => MODEL.map((_, i) => seededValues(1000 * k + 100 * w + i, SIZES[i]!, 0.2));

const pair = useStoppableTaskPair('ps-retry', TOKEN, { partitionBytes: PARTITION_BYTES, probeMs: PROBE_MS });
const { workers, clock } = pair;
let jobs = 0;

async function syncJob(): Promise<{ service: RemoteParameterService; jobId: string; diverged: Failure[] }> {
  const jobId = `job-${++jobs}`;
  const service = await RemoteParameterService.create(spec, { jobId, tensors: MODEL, initial: INITIAL, cluster: pair.cluster });
  if ('ok' in service) throw new Error(service.message);
  const diverged: Failure[] = [];
  service.onDiverged = (why) => diverged.push(why);
  return { service: service.withContext({ clock, activeWorkers: () => new Set(WORKERS) }), jobId, diverged };
}

/** Worker `w` pushes its slices for round `k` to both tasks, each task's answer in task order. */
function pushSlices(service: RemoteParameterService, jobId: string, w: number, k: number) {
  const route = service.routeFor(WORKERS[w]!);
  const split = PLACEMENT.splitTensors(gradient(k, w));
  return Promise.all(
    [0, 1].map((t) => workers[t]!.timeout(10_000).emitWithAck('grads:push', { ticket: route.tasks[t]!.ticket, jobId, baseVersion: k, ...encodeTensors(PLACEMENT.specsOf(t).map((s, i) => ({ ...s, values: split[t]![i]! }))) })),
  );
}

/** The worker's notice to the chief with both tasks' held receipts. */
function notice(service: RemoteParameterService, w: number, answers: Awaited<ReturnType<typeof pushSlices>>): Result<PushAccepted> | Promise<Result<PushAccepted>> {
  const base = { baseVersion: 0, batches: 1, manifest: { codec: 'fp32' as const, tensors: [] }, data: new Uint8Array(0) };
  return service.push(WORKERS[w]!, { ...base, psReceipts: answers.map((a, task) => (a.ok ? { task, version: a.version, receipt: a.receipt } : { task, version: -1, receipt: '' })) });
}

/** Round `k` of `service`: both workers push; the second notice meets the quorum and starts the close. `beforeClose` runs just before it. */
async function round(service: RemoteParameterService, jobId: string, k: number, beforeClose: () => void = () => {}) {
  const first = notice(service, 0, await pushSlices(service, jobId, 0, k));
  const answers = await pushSlices(service, jobId, 1, k);
  beforeClose();
  return Promise.all([first, notice(service, 1, answers)]);
}

const versions = async (jobId: string) =>
  Promise.all([0, 1].map(async (t) => {
    const s = await pair.cluster.request(t, 'task:status', {});
    return s.ok ? s.jobs.find((j) => j.jobId === jobId)?.version : s.code;
  }));

it('a close task 1 missed (stopped, then back) is retried: answered once, applied once, a cut asked meanwhile waits for it, and the rounds go on', async () => {
  const reference = await syncJob();
  expect(await round(reference.service, reference.jobId, 0)).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));

  const { service, jobId, diverged } = await syncJob();
  let answered = false;
  const acks = round(service, jobId, 0, () => pair.task1.child.kill('SIGSTOP')).then((a) => ((answered = true), a));
  // Task 1's answer times out (1 s, real): it is down, and the chief's retry waits on the clock.
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toMatch(/did not answer round:close/), { timeout: 10_000, interval: 50 });
  // A checkpoint asked now, with task 0 at round 1 and task 1 not: it waits for the close (the job's one gate).
  let cut = false;
  const manifest = service.cut().finally(() => (cut = true));
  pair.task1.child.kill('SIGCONT');
  // The liveness probe (on the clock) finds it answering: up again.
  clock.advance(PROBE_MS);
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toBeNull(), { timeout: 10_000, interval: 50 });
  expect(answered).toBe(false);
  expect(cut).toBe(false);
  clock.advance(CLOSE_RETRY_DELAYS_MS[0]!);
  expect(await acks).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
  expect(diverged).toEqual([]);
  expect(await versions(jobId)).toEqual([1, 1]);
  // Applied once on each task: the values of the round closed at the first try, bit for bit; the cut holds the whole round.
  expect((await service.values()).values.map(bits)).toEqual((await reference.service.values()).values.map(bits));
  expect((await manifest).parts.map((p) => p.version)).toEqual([1, 1]);

  expect(await round(service, jobId, 1)).toEqual([0, 1].map(() => ({ ok: true, version: 2, staleness: 0 })));
  expect(await versions(jobId)).toEqual([2, 2]);
}, 120_000);

it('a task that stays stopped through every retry: the workers are refused, the service says it diverged, the tasks are not live', async () => {
  const { service, jobId, diverged } = await syncJob();
  const acks = round(service, jobId, 0, () => pair.task1.child.kill('SIGSTOP'));
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toMatch(/did not answer round:close/), { timeout: 10_000, interval: 50 });
  // Every retry finds task 1 down (its probes time out): the clock runs through all of them.
  for (let i = 0; i < 4 * CLOSE_RETRY_DELAYS_MS.length && !diverged.length; i++) {
    clock.advance(Math.max(...CLOSE_RETRY_DELAYS_MS));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const answers = await acks;
  expect(answers.map((a) => !a.ok && a.code)).toEqual([ErrorCode.PS_TASK_UNREACHABLE, ErrorCode.PS_TASK_UNREACHABLE]);
  expect(diverged.map((d) => d.code)).toEqual([ErrorCode.PS_TASK_UNREACHABLE]);
  pair.task1.child.kill('SIGCONT');
  clock.advance(PROBE_MS);
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toBeNull(), { timeout: 10_000, interval: 50 });
  const statuses = await Promise.all([0, 1].map((t) => pair.cluster.request(t, 'task:status', {})));
  // Task 0 closed round 0 and the chief did not: the recovery rolls the job back rather than resume it as it was.
  expect(service.holdsLive(statuses.map((s) => (s.ok ? s : { epoch: 0, jobs: [] })))).toBe(false);
}, 120_000);

it('a closed round asked again: the same members get the same version and nothing moves; other members are a CONFLICT', async () => {
  const { service, jobId } = await syncJob();
  expect(await round(service, jobId, 0)).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
  const before = (await service.values()).values.map(bits);
  for (const t of [0, 1]) {
    expect(await pair.cluster.request(t, 'round:close', { jobId, round: 0, members: [...WORKERS].reverse() })).toEqual({ ok: true, version: 1 });
    expect(await pair.cluster.request(t, 'round:close', { jobId, round: 0, members: ['w-1'] })).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
  }
  expect(await versions(jobId)).toEqual([1, 1]);
  expect((await service.values()).values.map(bits)).toEqual(before);
}, 60_000);

it('a restore asked while a close is retried waits for it (the gate, as a cut does): the tasks load the cut after the close, and the rounds go on from it', async () => {
  const { service, jobId, diverged } = await syncJob();
  const cut = await service.cut();
  const acks = round(service, jobId, 0, () => pair.task1.child.kill('SIGSTOP'));
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toMatch(/did not answer round:close/), { timeout: 10_000, interval: 50 });
  let restored = false;
  const restoring = service.restoreCut(cut).then(() => (restored = true));
  pair.task1.child.kill('SIGCONT');
  clock.advance(PROBE_MS);
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toBeNull(), { timeout: 10_000, interval: 50 });
  expect(restored).toBe(false);
  clock.advance(CLOSE_RETRY_DELAYS_MS[0]!);
  // The close ends first, answered as closed; then both tasks load the cut.
  expect(await acks).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
  await restoring;
  expect(diverged).toEqual([]);
  expect(await versions(jobId)).toEqual([0, 0]);
  expect((await service.values()).values.map(bits)).toEqual(INITIAL.map(bits));
  expect(await round(service, jobId, 0)).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
}, 120_000);
