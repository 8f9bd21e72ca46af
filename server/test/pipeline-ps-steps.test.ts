/**
 * A split job's replica steps on ps tasks, over real sockets and 2 real ps tasks
 * (port 0, in this process, so the test reads what each holds): each stage holds its
 * part on the tasks of its slices, and the chief closes the step on every task once
 * every stage's part is held, or drops it. The mlp on 2 tasks puts dense1/kernel on
 * task 0 and the rest on task 1, so stage 0 (flatten, dense1) holds parts on both and
 * task 1 combines two stages' parts into one update.
 *
 * Without the holds (parts applied as they arrive) the refused steps below move task
 * 0's and task 1's slices of stage 0, and the bit-for-bit checks fail.
 *
 * A step one task closes and another refuses (a hold it let go) is half applied: the
 * job is held with that reason and every task goes back to the last committed cut
 * (without the recovery's forced rollback the job resumed with task 0 a step ahead).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { stageServerFor } from '../../client/engine/stage-ps-transport.js';
import { meterSocket, TrafficMeter } from '../../client/engine/traffic-meter.js';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { sizeOf } from '../../shared/tensors.js';
import { bits } from '../../test-support/ps-fixture.js';
import { connectChief, connectPsWorker, startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { TicketSigner } from '../cluster/tickets.js';
import { settledAfterRoundTrips, startCoordinator, type Running } from '../../test-support/index.js';
import { StageReplicas } from '../../test-support/stage-replica.js';

const TOKEN = 'pipeline-ps-steps-test-cluster-token-012345';

let tasks: RunningPsTask[] = [];
let run: Running;
/** The tasks' data dirs and each test's chief's (checkpoints are cuts of the tasks' parts). */
const root = mkdtempSync(join(tmpdir(), 'downpour-pipeline-ps-steps-'));
let chiefs = 0;
let stages: StageReplicas;

beforeAll(async () => {
  tasks = [await startPsTask({ token: TOKEN, dataDir: join(root, 'task-0') }), await startPsTask({ token: TOKEN, dataDir: join(root, 'task-1') })];
});
afterAll(async () => {
  await Promise.all(tasks.map((t) => t.close()));
  rmSync(root, { recursive: true, force: true });
});
beforeEach(async () => {
  run = await startCoordinator(
    { model: 'mlp', stages: 2, normBound: 0, optimizer: { type: 'sgd', learningRate: 0.1 } },
    { dataDir: join(root, `chief-${++chiefs}`), cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN } },
  );
  stages = new StageReplicas(run.url);
});
afterEach(async () => {
  stages?.close();
  await run?.close();
});

/** Every task's slices of the job, as the chief gathers them, one digest per tensor. */
async function digests(): Promise<string[]> {
  return (await run.job.parameters.values()).values.map(bits);
}

describe('replica steps on ps tasks', () => {
  it('the stages hold their parts on the tasks of their own slices only', async () => {
    const { a, b } = await stages.replica();
    // dense1/kernel is on task 0, dense1/bias and output/* on task 1.
    expect(a.job.replica!.tensors).toEqual(['dense1/kernel', 'dense1/bias']);
    expect(a.tasks.tasks).toEqual([0, 1]);
    expect(b.tasks.tasks).toEqual([1]);
  });

  it("a stage's task sockets are counted by its tab's traffic meter, as a data-parallel worker's are", async () => {
    const { a } = await stages.replica();
    const meter = new TrafficMeter();
    const refused = async () => ({ ok: false as const, code: ErrorCode.BAD_REQUEST, message: 'not in this test' });
    const { server, tasks } = stageServerFor(a.job, { pull: refused, push: refused, lease: refused, complete: refused, fetchShard: () => Promise.reject(new Error('not in this test')) }, { onTaskSocket: (s) => meterSocket(s, meter) });
    try {
      const pulled = await server.pull({ jobId: a.job.jobId });
      expect(pulled.ok).toBe(true);
    } finally {
      tasks!.dispose();
    }
    // Stage 0's slices, fp32, came from the tasks (dense1: 784 × 128 + 128 floats); the meter saw at least those bytes.
    const stageBytes = a.job.tensors.filter((t) => a.job.replica!.tensors.includes(t.name)).reduce((n, t) => n + sizeOf(t.shape) * 4, 0);
    expect(meter.total.received).toBeGreaterThanOrEqual(stageBytes);
  });

  it('a part a task refuses leaves every task bit for bit as it was; two NaNs in a row, which the other stage\'s frames may have caused, dissolve the replica', async () => {
    const { a, b, push } = await stages.replica();
    const before = await digests();
    const dissolved = new Promise<{ reason: string }>((resolve) => b.w.once('replica:dissolve', resolve));
    // Stage 0's part is held on both tasks; stage 1's carries a NaN: task 1 refuses it.
    const first = a.tasks.push(push(a, 0, 1));
    const nan = await b.tasks.push(push(b, 0, Number.NaN, 2.3));
    expect(nan).toMatchObject({ ok: false, code: ErrorCode.NON_FINITE });
    expect(await first).toEqual(nan);
    expect(await digests()).toEqual(before);
    expect(run.job.version).toBe(0);
    expect(run.job.stats.examplesSeen).toBe(0);
    // Every stage is charged, and at the second in a row the two are kept apart (server/jobs/replica-steps.ts, FRAME_BORNE).
    const again = a.tasks.push(push(a, 1, 1));
    expect(await b.tasks.push(push(b, 1, Number.NaN, 2.3))).toMatchObject({ ok: false, code: ErrorCode.NON_FINITE });
    await again;
    expect((await dissolved).reason).toMatch(/^stage 1's part was refused NON_FINITE, 2 steps in a row/);
    expect(await digests()).toEqual(before);
  });

  it('a receipt no task signed is refused before any task applies anything; the next good step applies once on both', async () => {
    const { a, b, push } = await stages.replica();
    const before = await digests();
    // A stage that shows the chief a receipt no task signed: refused before any task applies anything.
    const second = a.tasks.push(push(a, 0, 1));
    const forged = await b.w.emitWithAck('grads:push', { ...push(b, 0, 1, 2.3), manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts: [{ task: 1, version: 7, receipt: 'A'.repeat(43) }] });
    expect(forged).toMatchObject({ ok: false, code: ErrorCode.BAD_RECEIPT });
    expect(await second).toEqual(forged);
    expect(await digests()).toEqual(before);

    // Both parts good: one update of every tensor on both tasks, SGD's step on a gradient of ones applied once.
    const start = (await run.job.parameters.values()).values;
    const good = await Promise.all([a.tasks.push(push(a, 1, 1)), b.tasks.push(push(b, 1, 1, 2.3))]);
    expect(good).toEqual([
      { ok: true, version: 1, staleness: 0 },
      { ok: true, version: 1, staleness: 0 },
    ]);
    expect(run.job.stats.examplesSeen).toBe(run.job.spec.batchSize);
    // Task 1 combined stage 0's dense1/bias and stage 1's output/* into its one update.
    const after = (await run.job.parameters.values()).values;
    after.forEach((v, i) => {
      let worst = 0;
      for (let k = 0; k < v.length; k++) worst = Math.max(worst, Math.abs(v[k]! - start[i]![k]! + 0.1));
      expect(worst).toBeLessThan(1e-6);
    });
  });

  it("a stage claiming a task refused it RATE_LIMITED (no honest stage meets that) has the step refused BAD_RECEIPT, its own fault, not a strike on its neighbour's socket", async () => {
    const { a, b, push } = await stages.replica();
    const before = await digests();
    const first = a.tasks.push(push(a, 0, 1));
    // Before, the claimed code was answered to both stages: a misbehaviour strike on stage 0's socket each step, at no fault of stage 1's.
    const claimed = await b.w.emitWithAck('grads:push', { ...push(b, 0, 1, 2.3), manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psRefused: 'RATE_LIMITED' });
    expect(claimed).toMatchObject({ ok: false, code: ErrorCode.BAD_RECEIPT, message: expect.stringMatching(/Stage 1/) });
    expect(await first).toEqual(claimed);
    expect(await digests()).toEqual(before);
  });

  it('a step refused BUSY after its parts were counted (a task full) is answered CONFLICT, so no stage sends it again; the next step applies', async () => {
    const { a, b, push } = await stages.replica();
    const first = a.tasks.push(push(a, 0, 1));
    // A push answered BUSY is sent again as it was (shared/slot-pusher.ts): this step's number is used, so it came back
    // STEP_OUT_OF_ORDER, a fault on an honest stage, and its replica was dissolved.
    const busy = await b.w.emitWithAck('grads:push', { ...push(b, 0, 1, 2.3), manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psRefused: 'BUSY' });
    expect(busy).toMatchObject({ ok: false, code: ErrorCode.CONFLICT, message: expect.stringMatching(/not to be sent again/) });
    expect(await first).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    const next = await Promise.all([a.tasks.push(push(a, 1, 1)), b.tasks.push(push(b, 1, 1, 2.3))]);
    expect(next.map((r) => r.ok)).toEqual([true, true]);
  });

  it('a step whose replica dissolves before its last part is dropped on the tasks: nothing applied, nothing left to close', async () => {
    const { a, b, push } = await stages.replica();
    const before = await digests();
    const noticed = a.noticed();
    const held = a.tasks.push(push(a, 0, 1));
    // Stage 0's part is held on both tasks and its notice waits at the chief; stage 1 leaves before pushing.
    const notice = await noticed;
    expect(await settledAfterRoundTrips(held, a.w)).toBe(false);
    b.w.disconnect();
    expect(await held).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await digests()).toEqual(before);
    expect(run.job.version).toBe(0);
    // The holds were let go: a close naming them (task 0 holds only dense1/kernel, which stage 0's part covers) finds nothing.
    expect(notice.psReceipts!.map((r) => r.task)).toEqual([0, 1]);
    const keys = deriveClusterKeys(TOKEN);
    for (const r of notice.psReceipts!) {
      const chief = await connectChief(tasks[r.task]!.url);
      const epoch = tasks[r.task]!.task.chiefEpoch;
      const closed = await chief.emitWithAck('step:close', { chief: chiefCredential(keys, epoch, 'step:close', a.job.jobId), jobId: a.job.jobId, holds: [{ worker: a.workerId, hold: r.version }] });
      chief.disconnect();
      expect(closed).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    }
    expect(await digests()).toEqual(before);
  });

  it('a step task 0 closes and task 1 refuses is half applied: the job is held, and every task goes back to the last committed cut', async () => {
    const { a, b, push } = await stages.replica();
    expect(await Promise.all([a.tasks.push(push(a, 0, 1)), b.tasks.push(push(b, 0, 1, 2.3))])).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
    await run.job.checkpointIfChanged();
    const cut = await digests();
    const holds = vi.spyOn(run.job, 'hold');
    // Stage 0's part of the next step is held on both tasks; then eight steps' worth of other workers' parts on task 1
    // make it let that part go (its bytes bound lets the oldest go).
    const noticed = a.noticed();
    const first = a.tasks.push(push(a, 1, 1));
    await noticed;
    const raw = await connectPsWorker(tasks[1]!.url);
    const signer = new TicketSigner(deriveClusterKeys(TOKEN), () => Date.now());
    const onTask1 = a.job.tensors.filter((t) => t.name !== 'dense1/kernel');
    for (let k = 0; k < 8; k++) {
      const worker = `filler-${k >> 1}`;
      const extra = await raw.emitWithAck('grads:hold', { ticket: signer.sign({ worker, job: a.job.jobId, task: 1 }), jobId: a.job.jobId, baseVersion: 1, ...encodeTensors(onTask1.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)) }))) });
      expect(extra).toMatchObject({ ok: true });
    }
    raw.disconnect();
    const second = await b.tasks.push(push(b, 1, 1, 2.3));
    expect(second).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await first).toEqual(second);
    expect(holds.mock.calls[0]?.[0]).toMatch(/^a close did not reach every ps task \(CONFLICT: ps task 1: /);
    // Task 1 is up: the rollback runs at once, and the job runs again at the cut, every task's values bit for bit the cut's.
    await vi.waitFor(() => expect(run.job.pausedReason).toBeNull(), { timeout: 10_000, interval: 20 });
    expect(run.job.state).toBe('running');
    expect(run.job.version).toBe(1);
    expect(await digests()).toEqual(cut);
  });
});
