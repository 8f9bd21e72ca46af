/**
 * Overload is answered, not queued: through real sockets, pushes beyond the process's
 * bound (server/params/push-admission.ts) are answered BUSY at once, every push gets an
 * answer, nothing a BUSY push carried reaches the parameters, and its lease is intact:
 * the same push, sent again, is accepted. The coordinator's time is a ManualClock
 * (round deadlines; a stalled event loop is `clock.stall`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { GradientPush, JobAssignment, PushAccepted, ShardLeaseGrant } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { sizeOf } from '../../shared/tensors.js';
import type { PushAdmissionOptions } from '../params/push-admission.js';
import type { PushSlotOptions } from '../params/push-slots.js';
import { joinAssigned, leaseShard, localParameters, ManualClock, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const LR = 0.1;
let run: Running | null = null;
let sockets: TestWorker[] = [];
let clock: ManualClock;

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
});

/** Plain SGD, no norm bound: each update is lr × the (mean) pushed values. */
async function start(spec: JobSpecInput, admission: PushAdmissionOptions, slots: PushSlotOptions = {}): Promise<Running> {
  clock = new ManualClock();
  run = await startCoordinator({ model: 'mlp', optimizer: { type: 'sgd', learningRate: LR }, normBound: 0, ...spec }, { clock, admission, slots });
  return run;
}

interface Worker {
  w: TestWorker;
  job: JobAssignment;
  lease: ShardLeaseGrant;
}

async function join(r: Running): Promise<Worker> {
  const joined = await joinAssigned(r.url, sockets, 'vitest-overload');
  return { ...joined, lease: await leaseShard(joined.w, joined.job.jobId) };
}

/** One batch of the worker's lease, every value `fill`, computed on `baseVersion`. */
function push({ job, lease }: Worker, baseVersion: number, fill: number): GradientPush {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  return { jobId: job.jobId, leaseId: lease.leaseId, baseVersion, batches: job.nPush, loss: 2.3, ...payload };
}

const values = (r: Running) => localParameters(r.job).store.tensors.map((t) => t.values.slice());

/** The largest difference between the job's parameters and `start` minus lr × `step` everywhere. */
function offBy(r: Running, start: Float32Array[], step: number): number {
  let worst = 0;
  values(r).forEach((v, k) => v.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - (start[k]![i]! - LR * step))))));
  return worst;
}

/** Resolves once `n` of `answers` have settled. */
function firstAnswers(answers: Promise<unknown>[], n: number): Promise<void> {
  let settled = 0;
  return new Promise((resolve) => answers.forEach((a) => void a.then(() => ++settled === n && resolve())));
}

describe('a flood past the bound on pushes in flight (a sync round holds its answers)', () => {
  it('answers the pushes beyond it BUSY at once, holds the rest, and applies exactly the admitted ones; the BUSY ones, sent again, are accepted', async () => {
    const r = await start({ mode: 'sync' }, { maxInFlight: 3, retryAfterMs: 700 });
    const workers = await Promise.all(Array.from({ length: 6 }, () => join(r)));
    const fills = [1, 2, 4, 8, 16, 32];
    const initial = values(r);

    const answers: Promise<Result<PushAccepted>>[] = workers.map((w, i) => w.w.emitWithAck('grads:push', push(w, 0, fills[i]!)));
    await firstAnswers(answers, 3);
    // A settled answer wins the race against the already-resolved null; a held one loses it.
    const early = await Promise.all(answers.map((a) => Promise.race([a, Promise.resolve(null)])));
    const refused = early.flatMap((a, i) => (a ? [i] : []));
    expect(refused).toHaveLength(3);
    for (const i of refused) expect(early[i]).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: 700 });
    const held = [0, 1, 2, 3, 4, 5].filter((i) => !refused.includes(i));
    expect(await settledAfterRoundTrips(Promise.race(held.map((i) => answers[i]!)), ...workers.map((w) => w.w))).toBe(false);
    expect(r.coordinator.admission.counts()).toMatchObject({ inFlight: 3, busy: 3 });

    // The round waits for all six; its deadline closes it with the three it admitted.
    clock.advance(r.job.spec.roundTimeoutSeconds * 1000);
    for (const i of held) expect(await answers[i]!).toEqual({ ok: true, version: 1, staleness: 0 });
    const meanHeld = held.reduce((s, i) => s + fills[i]!, 0) / 3;
    expect(offBy(r, initial, meanHeld)).toBeLessThan(1e-6);

    // The refused leases are intact: the same gradients, on the new version, make the next round.
    const again = refused.map((i) => workers[i]!.w.emitWithAck('grads:push', push(workers[i]!, 1, fills[i]!)));
    expect(await settledAfterRoundTrips(Promise.race(again), ...workers.map((w) => w.w))).toBe(false);
    clock.advance(r.job.spec.roundTimeoutSeconds * 1000);
    for (const a of await Promise.all(again)) expect(a).toEqual({ ok: true, version: 2, staleness: 0 });
    const meanRefused = refused.reduce((s, i) => s + fills[i]!, 0) / 3;
    expect(offBy(r, initial, meanHeld + meanRefused)).toBeLessThan(1e-6);
    expect(r.job.stats.pushesAccepted).toBe(6);
    expect(r.job.stats.pushesRejected).toEqual({ [ErrorCode.BUSY]: 3 });
    expect(r.coordinator.admission.counts()).toEqual({ inFlight: 0, inFlightBytes: 0, busy: 3 });
  });
});

describe('a stalled event loop (async pushes: the queue is in front of the handler)', () => {
  it('answers every push BUSY while the loop runs late turn after turn, changing nothing; once it is on time the same pushes are accepted', async () => {
    // The loop bound alone: its BUSY answers would otherwise require push slots of the
    // pushes sent again (server/test/push-slots.test.ts), which these raw sockets do not ask.
    const r = await start({ mode: 'async', maxStaleness: 10 }, { maxLoopDelayMs: 100, random: () => 0 }, { minBytes: Number.POSITIVE_INFINITY });
    const workers = await Promise.all(Array.from({ length: 4 }, () => join(r)));
    const initial = values(r);
    // Two long loop turns in a row: the admission's sampling timer runs late twice. Its draw
    // of which pushes a late loop refuses is always 0 here: every push within the share is refused.
    for (const turn of [0, 1]) {
      clock.stall(500);
      clock.advance(turn);
    }
    const pushes = workers.map((w, i) => push(w, 0, 2 ** i));
    for (const a of await Promise.all(workers.map((w, i) => w.w.emitWithAck('grads:push', pushes[i]!)))) {
      expect(a).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: expect.any(Number) });
    }
    expect(r.job.version).toBe(0);
    expect(values(r)).toEqual(initial);

    clock.advance(40); // the sampling timer on time again
    const accepted: Result<PushAccepted>[] = [];
    for (const [i, w] of workers.entries()) accepted.push(await w.w.emitWithAck('grads:push', pushes[i]!));
    expect(accepted.map((a) => a.ok && a.version)).toEqual([1, 2, 3, 4]);
    expect(offBy(r, initial, 1 + 2 + 4 + 8)).toBeLessThan(1e-6);
    expect(r.job.stats.pushesRejected).toEqual({ [ErrorCode.BUSY]: 4 });
  });
});
