/**
 * A split job's replica-step close that one ps task missed. Task 0 runs in this
 * process, task 1 as its own process (server/ps-task/main.ts), so it can be SIGSTOPped
 * just before the chief closes a step: task 0 closes, task 1's answer times out and it
 * goes down. SIGCONTed, it runs the close it had queued unheard; once it answers the
 * liveness probe, the chief's retry (on its clock) asks it again, and it answers the
 * version it made, applying nothing twice. A checkpoint cut asked meanwhile waits for
 * the close, so both parts hold the step. A task stopped through every retry leaves the
 * step half applied: the replica is refused and the service reports a diverged step.
 *
 * Checked to fail: without the retry (the replica refused PS_TASK_UNREACHABLE), without
 * the task's memory of closed steps (the retry refused CONFLICT: its holds are gone),
 * and without the close gate (the cut refused at once: task 1 is down).
 */
import { expect, it, vi } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { Placement } from '../../shared/placement.js';
import type { Failure } from '../../shared/result.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { bits, seededValues } from '../../test-support/ps-fixture.js';
import { useStoppableTaskPair } from '../../test-support/stoppable-task-pair.js';
import { CLOSE_RETRY_DELAYS_MS } from '../params/round-close-retry.js';
import { RemoteParameterService, type DivergedClose } from '../params/remote-parameter-service.js';
import type { StagePartNotice } from '../params/task-stage-steps.js';

const TOKEN = 'ps-step-retry-test-cluster-token-0123456789a';
const MODEL: TensorSpec[] = [
  { name: 'dense/kernel', shape: [64, 32] },
  { name: 'dense/bias', shape: [32] },
  { name: 'output/kernel', shape: [32, 4] },
  { name: 'output/bias', shape: [4] },
];
/** Stage 0 holds the hidden layer, stage 1 the output layer. */
const STAGES = [
  { worker: 'w-0', tensors: ['dense/kernel', 'dense/bias'] },
  { worker: 'w-1', tensors: ['output/kernel', 'output/bias'] },
];
const SIZES = MODEL.map((s) => sizeOf(s.shape));
const INITIAL = MODEL.map((_, i) => seededValues(i + 1, SIZES[i]!, 1));
const PARTITION_BYTES = 4096;
const PLACEMENT = Placement.of(MODEL, { tasks: 2, partitionBytes: PARTITION_BYTES });
const PROBE_MS = 100;
const parsed = parseJobSpec({ model: 'mlp', stages: 2, normBound: 0, directionThreshold: null, optimizer: { type: 'adagrad', learningRate: 0.05 } });
if (!parsed.ok) throw new Error(parsed.message);
const spec = parsed.value;
const gradient = (k: number) => MODEL.map((_, i) => seededValues(1000 * k + i, SIZES[i]!, 0.2));

const pair = useStoppableTaskPair('ps-step-retry', TOKEN, { partitionBytes: PARTITION_BYTES, probeMs: PROBE_MS });
const { workers, clock } = pair;
let jobs = 0;

async function splitJob(): Promise<{ service: RemoteParameterService; jobId: string; diverged: [DivergedClose, Failure][] }> {
  const jobId = `job-${++jobs}`;
  const service = await RemoteParameterService.create(spec, { jobId, tensors: MODEL, initial: INITIAL, cluster: pair.cluster });
  if ('ok' in service) throw new Error(service.message);
  const diverged: [DivergedClose, Failure][] = [];
  service.onDiverged = (why, what) => diverged.push([what, why]);
  return { service: service.withContext({ clock, activeWorkers: () => new Set(STAGES.map((s) => s.worker)) }), jobId, diverged };
}

/** Every stage holds its part of step `k` on the tasks of its slices; their notices, as the replica step reads them. */
async function holdParts(service: RemoteParameterService, jobId: string, k: number): Promise<StagePartNotice[]> {
  const split = PLACEMENT.splitTensors(gradient(k));
  return Promise.all(
    STAGES.map(async ({ worker, tensors }) => {
      const route = service.routeFor(worker);
      const receipts = await Promise.all(
        [...service.stageSteps!.slicesByTask(tensors)].map(async ([task, names]) => {
          const slices = PLACEMENT.specsOf(task).flatMap((s, i) => (names.includes(s.name) ? [{ ...s, values: split[task]![i]! }] : []));
          const held = await workers[task]!.timeout(10_000).emitWithAck('grads:hold', { ticket: route.tasks[task]!.ticket, jobId, baseVersion: k, ...encodeTensors(slices) });
          if (!held.ok) throw new Error(`${held.code}: ${held.message}`);
          return { task, version: held.hold, receipt: held.receipt };
        }),
      );
      return { worker, tensors, receipts };
    }),
  );
}

/** Step `k`: every part held, checked, and closed through the service as the replica's commit does; `beforeClose` runs just before. */
async function step(service: RemoteParameterService, jobId: string, k: number, beforeClose: () => void = () => {}) {
  const checked = service.stageSteps!.check(await holdParts(service, jobId, k));
  expect(checked.refusal).toBeNull();
  beforeClose();
  const answer = service.push(STAGES[0]!.worker, { baseVersion: k, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psStep: checked.step });
  return { answer: Promise.resolve(answer), step: checked.step };
}

const versions = async (jobId: string) =>
  Promise.all([0, 1].map(async (t) => {
    const s = await pair.cluster.request(t, 'task:status', {});
    return s.ok ? s.jobs.find((j) => j.jobId === jobId)?.version : s.code;
  }));

it('a repeated step:close answers the version it made, and leaves every parameter bit for bit', async () => {
  const { service, jobId } = await splitJob();
  const { answer, step: closed } = await step(service, jobId, 0);
  expect(await answer).toEqual({ ok: true, version: 1, staleness: 0 });
  const after = (await service.values()).values.map(bits);
  for (const [task, holds] of closed.holds) {
    expect(await pair.cluster.request(task, 'step:close', { jobId, holds: [...holds].reverse() })).toEqual({ ok: true, version: 1 });
  }
  expect(await versions(jobId)).toEqual([1, 1]);
  expect((await service.values()).values.map(bits)).toEqual(after);
}, 60_000);

it('a close task 1 missed (stopped, then back) is asked again: closed once on each task, and a cut asked meanwhile waits for it', async () => {
  const reference = await splitJob();
  expect(await (await step(reference.service, reference.jobId, 0)).answer).toEqual({ ok: true, version: 1, staleness: 0 });

  const { service, jobId, diverged } = await splitJob();
  let answered = false;
  const { answer } = await step(service, jobId, 0, () => pair.task1.child.kill('SIGSTOP'));
  void answer.then(() => (answered = true));
  // Task 1's answer times out (1 s, real): it is down, and the chief's retry waits on the clock.
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toMatch(/did not answer step:close/), { timeout: 10_000, interval: 50 });
  let cut = false;
  const manifest = service.cut().finally(() => (cut = true));
  pair.task1.child.kill('SIGCONT');
  clock.advance(PROBE_MS);
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toBeNull(), { timeout: 10_000, interval: 50 });
  expect(answered).toBe(false);
  expect(cut).toBe(false);
  clock.advance(CLOSE_RETRY_DELAYS_MS[0]!);
  expect(await answer).toEqual({ ok: true, version: 1, staleness: 0 });
  expect(diverged).toEqual([]);
  expect(await versions(jobId)).toEqual([1, 1]);
  // Applied once on each task: the values of a step closed at the first try, bit for bit; and the cut holds the whole step.
  expect((await service.values()).values.map(bits)).toEqual((await reference.service.values()).values.map(bits));
  expect((await manifest).parts.map((p) => p.version)).toEqual([1, 1]);

  expect(await (await step(service, jobId, 1)).answer).toEqual({ ok: true, version: 2, staleness: 0 });
  expect(await versions(jobId)).toEqual([2, 2]);
}, 120_000);

it('a task stopped through every retry: the replica is refused, and the service reports the step diverged', async () => {
  const { service, jobId, diverged } = await splitJob();
  const { answer } = await step(service, jobId, 0, () => pair.task1.child.kill('SIGSTOP'));
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toMatch(/did not answer step:close/), { timeout: 10_000, interval: 50 });
  // Every retry finds task 1 down (its probes time out): the clock runs through all of them.
  for (let i = 0; i < 4 * CLOSE_RETRY_DELAYS_MS.length && !diverged.length; i++) {
    clock.advance(Math.max(...CLOSE_RETRY_DELAYS_MS));
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(await answer).toMatchObject({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE });
  expect(diverged.map(([what, why]) => [what, why.code])).toEqual([['step', ErrorCode.PS_TASK_UNREACHABLE]]);
  pair.task1.child.kill('SIGCONT');
  clock.advance(PROBE_MS);
  await vi.waitFor(() => expect(pair.cluster.downReason(1)).toBeNull(), { timeout: 10_000, interval: 50 });
  // Task 0 applied the step; task 1 ran it unheard once SIGCONTed: only a rollback tells the two apart from a whole step.
  expect(service.version).toBe(0);
}, 120_000);
