/**
 * The norm bound judges each stage's part of a replica step against its own tensors'
 * bound (server/params/range-norm-bounds.ts), not the joined gradient: over real
 * sockets, two stage workers (StageTrainer on tfjs cpu, real MNIST) train the mlp split
 * in 2 stages, and stage 1 turns hostile once warm, pushing its part 100× scaled. Its
 * part is clipped (an early transient's allowance), then refused with its stage named;
 * the third refusal bars stage 1, not stage 0, whose part is never clipped.
 */
import { describe, expect, it } from 'vitest';
import { startStageWorker } from '../../bench/stage-worker.js';
import { ErrorCode } from '../../shared/errors.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { MAX_FAULTS_IN_A_ROW } from '../jobs/push-accounting.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';
import { scaledPush, stageRunHooks } from '../../test-support/stage-run.js';

const { start, workers } = stageRunHooks();

/** Honest pushes stage 1 makes before it turns (more than WARM_PUSHES: its clip allowance is earned). */
const HONEST = WARM_PUSHES + 2;

describe('the norm bound in a split job', () => {
  it(`judges each stage's part on its own: a hostile stage 1 is clipped, then refused by name and barred; stage 0 is not`, { timeout: 180_000 }, async () => {
    const run = await start({ model: 'mlp', stages: 2, microbatches: 2, batchSize: 32 });
    expect(run.job.spec.normBound).toBe(10);
    const answers: Result<PushAccepted>[][] = [[], []];
    let stage1Pushes = 0;
    let barred = () => {};
    const dissolved = new Promise<void>((r) => (barred = r));
    const options = {
      pushed: (r: Result<PushAccepted>, stage: number) => answers[stage]!.push(r),
      // Stage 1's part, 100× once it has pushed HONEST honest ones.
      tamper: (p: GradientPush, stage: number) => (stage === 1 && ++stage1Pushes > HONEST ? scaledPush(p, 100) : p),
      unstaged: (reason: string) => reason.includes('barred') && barred(),
    };
    workers.push(await startStageWorker(run.url, options), await startStageWorker(run.url, options));
    const r1 = run.job.replicas!.list()[0]!;
    const [stage0, stage1] = r1.members;
    await dissolved;
    const [first, second] = answers;

    // Stage 1: honest and within the bound, then clipped while its allowance lasts, then refused by name until barred.
    const seen = second!.slice(0, HONEST + MAX_CLIPS + MAX_FAULTS_IN_A_ROW);
    expect(seen.slice(0, HONEST).every((r) => r.ok && r.clipped === undefined), JSON.stringify(seen.slice(0, HONEST))).toBe(true);
    for (const r of seen.slice(HONEST, HONEST + MAX_CLIPS)) expect(r).toMatchObject({ ok: true, clipped: expect.toSatisfy((c: number) => c < 0.2) });
    for (const r of seen.slice(HONEST + MAX_CLIPS)) {
      expect(r).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER, message: expect.stringMatching(/^Stage 1 of replica r1: Gradient norm/) });
    }
    // Stage 0's part was never clipped: its answers carry its own part's verdict, not stage 1's.
    expect(first!.filter((r) => r.ok && r.clipped !== undefined)).toEqual([]);
    expect(run.job.stats.pushesRejected).toEqual({ [ErrorCode.NORM_OUTLIER]: MAX_FAULTS_IN_A_ROW });
    expect(run.job.stats.pushesClipped).toBe(MAX_CLIPS);

    // Stage 1 waits out its bar; stage 0 was not barred: with a third worker it forms the next replica at once.
    expect(run.job.replicas!.list()).toEqual([]);
    let staged = () => {};
    const formed = new Promise<void>((r) => (staged = r));
    workers.push(await startStageWorker(run.url, { staged: () => staged() }));
    await formed;
    const r2 = run.job.replicas!.list();
    expect(r2.map((r) => r.id)).toEqual(['r2']);
    expect(r2[0]!.members).toContain(stage0);
    expect(r2[0]!.members).not.toContain(stage1);
    expect(run.job.replicas!.waiting).toEqual([stage1]);
  });
});
