/**
 * The trusted-direction check (server/params/direction-check.ts) through a real
 * coordinator: socket.io workers compute real gradients with the browser's ModelTrainer
 * on real MNIST shards, the coordinator's thread takes its own gradient on its root set,
 * and the coordinator's clock (a ManualClock) decides when. A worker pushing
 * sign-flipped gradients is refused DIRECTION_OUTLIER, an honest one is not; the
 * trusted gradient refreshes on the clock; a thread that fails turns the check off.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { CoordinatorOptions } from '../coordinator.js';
import { configureLogging } from '../logger.js';
import type { DirectionCheck, DirectionEvents } from '../params/direction-check.js';
import type { TrustedSnapshotEvents, TrustedSnapshots } from '../params/trusted-snapshots.js';
import { ReferenceNorms } from '../params/reference-norms.js';
import { createTrustedGradientService } from '../params/trusted-gradient.js';
import { joinAsGradientWorker, ManualClock, startCoordinator, waitForEvent, type GradientWorker, type Running, localParameters } from '../../test-support/index.js';

/** The thread starts tfjs and builds the model first: generous on a loaded machine. */
const THREAD_MS = 90_000;

let run: Running | null = null;
const workers: GradientWorker[] = [];

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

afterEach(async () => {
  for (const w of workers.splice(0)) w.close();
  await run?.close();
  run = null;
  configureLogging({ level: 'warn' });
});

async function start(spec: JobSpecInput, options: CoordinatorOptions = {}): Promise<{ r: Running; clock: ManualClock; direction: DirectionCheck; trusted: TrustedSnapshots }> {
  const clock = new ManualClock();
  run = await startCoordinator({ directionThreshold: 0, trustedRefreshSeconds: 1, ...spec }, { clock, ...options });
  const { direction, trusted } = localParameters(run.job);
  if (!direction || !trusted) throw new Error('the job has no direction check');
  return { r: run, clock, direction, trusted };
}

async function worker(r: Running): Promise<GradientWorker> {
  const w = await joinAsGradientWorker(r.url);
  workers.push(w);
  return w;
}

/** The next `n` judgements, or a named timeout. */
function judgements(direction: DirectionCheck, n: number): Promise<DirectionEvents['judged'][0][]> {
  return new Promise((resolve, reject) => {
    const got: DirectionEvents['judged'][0][] = [];
    const timer = setTimeout(() => reject(new Error(`timed out after ${THREAD_MS} ms waiting for ${n} judgements (got ${got.length})`)), THREAD_MS);
    const on = (j: DirectionEvents['judged'][0]) => {
      got.push(j);
      if (got.length < n) return;
      clearTimeout(timer);
      direction.off('judged', on);
      resolve(got);
    };
    direction.on('judged', on);
  });
}

describe('the trusted direction', () => {
  it.each(['async', 'sync'] as const)('%s: refuses the worker whose gradients are sign-flipped and keeps accepting the honest one', { timeout: 180_000 }, async (mode) => {
    const { r, clock, direction, trusted } = await start({ mode });
    const honest = await worker(r);
    const flipper = await worker(r);
    clock.advance(1000); // the trusted gradient of version 0
    expect(trusted.taken).toBe(1);
    const judged = judgements(direction, 2);
    // Both computed at version 0, as the snapshot: each is witnessed. No verdict yet, and a first push is never refused on suspicion.
    const first = [await honest.gradientAtPulled(), await flipper.gradientAtPulled(-1)];
    expect(await Promise.all([honest.push(first[0]!), flipper.push(first[1]!)])).toMatchObject([{ ok: true }, { ok: true }]);
    // One judgement per worker: the honest gradient along the trusted one, the flipped one against it.
    const [along, against] = (await judged).sort((a, b) => b.cosine - a.cosine);
    expect(along!.workerId).not.toBe(against!.workerId);
    expect(along).toMatchObject({ cosine: expect.toSatisfy((c: number) => c > 0), refused: false });
    expect(against).toMatchObject({ cosine: expect.toSatisfy((c: number) => c < 0), refused: true });

    const applied = r.job.stats.pushesAccepted;
    const second = [await honest.gradientAtPulled(), await flipper.gradientAtPulled(-1)];
    // sync: the refused worker leaves the round, which closes with the honest gradient alone.
    expect(await Promise.all([honest.push(second[0]!), flipper.push(second[1]!)])).toMatchObject([{ ok: true }, { ok: false, code: ErrorCode.DIRECTION_OUTLIER }]);
    expect(r.job.stats.pushesAccepted).toBe(applied + 1);
    expect(r.job.stats.pushesRejected.DIRECTION_OUTLIER).toBe(1);
  });
});

describe('the trusted gradient', () => {
  it('is taken on the job clock, one at a time, and only when the parameters moved', { timeout: 180_000 }, async () => {
    const { r, clock, trusted } = await start({ trustedRefreshSeconds: 5 });
    const honest = await worker(r);
    clock.advance(4999);
    expect(trusted.taken).toBe(0);
    clock.advance(1);
    expect(trusted.taken).toBe(1);
    const first = waitForEvent<TrustedSnapshotEvents['trusted'][0]>(trusted, 'trusted', THREAD_MS);
    // Still being computed (its answer cannot arrive within this synchronous step): no second one.
    clock.advance(5000);
    expect(trusted.taken).toBe(1);
    const taken = await first;
    expect(taken).toEqual({ id: 1, version: 0, batchNorm: expect.toSatisfy((n: number) => n > 0), norms: expect.any(ReferenceNorms) });
    // Kept per tensor, the same norm over the whole model: a split job's stages take their references from these.
    expect(taken.norms.normOf(0, taken.norms.tensors)).toBeCloseTo(taken.batchNorm, 9);
    // Nothing was applied since: the same parameters are not taken again.
    clock.advance(5000);
    expect(trusted.taken).toBe(1);
    expect(await honest.push(await honest.gradientAtPulled(1))).toMatchObject({ ok: true, version: 1 });
    clock.advance(5000);
    expect(trusted.taken).toBe(2);
    expect(await waitForEvent(trusted, 'trusted', THREAD_MS)).toMatchObject({ id: 2, version: 1 });
    // A paused job takes none.
    r.job.control('pause');
    clock.advance(60_000);
    expect(trusted.taken).toBe(2);
  });

  it('that cannot be computed turns the check off with one log line: verdicts dropped, no push refused', { timeout: 180_000 }, async () => {
    const written: string[] = [];
    configureLogging({ level: 'warn', format: 'json', destination: { write: (s: string) => void written.push(s) } });
    const dying = createTrustedGradientService({ thread: new URL('./direction-check-dying-thread.ts', import.meta.url) });
    const { r, clock, direction, trusted } = await start({}, { trustedGradients: dying });
    const flipper = await worker(r);
    clock.advance(1000);
    const judged = judgements(direction, 1);
    expect(await flipper.push(await flipper.gradientAtPulled(-1))).toMatchObject({ ok: true });
    expect((await judged)[0]).toMatchObject({ refused: true });
    expect(await flipper.push(await flipper.gradientAtPulled(-1))).toMatchObject({ ok: false, code: ErrorCode.DIRECTION_OUTLIER });
    // The thread dies computing the next trusted gradient: the check is off, the worker no longer refused.
    clock.advance(1000);
    await waitForEvent(trusted, 'off', THREAD_MS);
    // Not retried at the parameters it failed at (diverged ones would fail every time), only once they move.
    clock.advance(1000);
    expect(trusted.taken).toBe(2);
    expect(await flipper.push(await flipper.gradientAtPulled(-1))).toMatchObject({ ok: true });
    // The next refresh starts a new thread, and the check is on again.
    clock.advance(1000);
    expect(await waitForEvent(trusted, 'trusted', THREAD_MS)).toMatchObject({ id: 3 });
    const lines = written.map((l) => JSON.parse(l) as { level: string; ns: string; msg: string }).filter((l) => l.ns === 'trusted' || l.ns === 'direction');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', ns: 'trusted', msg: expect.stringContaining('direction check is off') })]);
  });
});

describe('witnessing', () => {
  it('async: compares pushes computed up to two versions from the snapshot, no further', { timeout: 180_000 }, async () => {
    const { r, clock, direction } = await start({ mode: 'async' });
    const honest = await worker(r);
    clock.advance(1000); // snapshot of version 0
    for (let k = 0; k < 4; k++) expect(await honest.push(await honest.gradientAtPulled())).toMatchObject({ ok: true, version: k + 1 });
    // Bases 0, 1 and 2 were witnessed (three of the four buffers); base 3 was not.
    expect(direction.witnessed).toBe(3);
  });

  it('sync: compares only the snapshot round\'s pushes (a round is a whole step)', { timeout: 180_000 }, async () => {
    const { r, clock, direction } = await start({ mode: 'sync' });
    const a = await worker(r);
    const b = await worker(r);
    clock.advance(1000); // snapshot of version 0
    for (let round = 0; round < 2; round++) {
      const g = [await a.gradientAtPulled(), await b.gradientAtPulled()];
      expect(await Promise.all([a.push(g[0]!), b.push(g[1]!)])).toMatchObject([{ ok: true, version: round + 1 }, { ok: true, version: round + 1 }]);
    }
    expect(direction.witnessed).toBe(2);
  });
});
