/**
 * The norm bound judges each stage's part of a replica step against its own tensors'
 * bound (server/params/range-norm-bounds.ts), not the joined gradient: over real
 * sockets, two stage workers (StageTrainer on tfjs cpu, real MNIST) train the mlp split
 * in 2 stages, and stage 1 turns hostile once warm, pushing its part 100× scaled. Its
 * part is clipped (an early transient's allowance), then refused with its stage named,
 * while stage 0's part is never clipped. A part over its bound may be owed to the other
 * stage's frames (activations or gradients sent back), so each refusal charges both
 * stages, and the second in a row keeps them apart (server/jobs/replica-steps.ts,
 * FRAME_BORNE): a third worker forms the next replica with stage 0, and stage 1 waits for
 * another partner.
 */
import { describe, expect, it, vi } from 'vitest';
import { startStageWorker } from '../../bench/stage-worker.js';
import { ErrorCode } from '../../shared/errors.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';
import { scaledPush, stageRunHooks } from '../../test-support/stage-run.js';

const { start, workers } = stageRunHooks();

/** Honest pushes stage 1 makes before it turns (more than WARM_PUSHES: its clip allowance is earned). */
const HONEST = WARM_PUSHES + 2;

describe('the norm bound in a split job', () => {
  it(`judges each stage's part on its own: a hostile stage 1 is clipped, then refused by name, and at the second refusal in a row the two are kept apart; stage 0's part is never clipped`, { timeout: 180_000 }, async () => {
    const run = await start({ model: 'mlp', stages: 2, microbatches: 2, batchSize: 32 });
    expect(run.job.spec.normBound).toBe(10);
    const answers: Result<PushAccepted>[][] = [[], []];
    let stage1Pushes = 0;
    let refused = () => {};
    const dissolved = new Promise<void>((r) => (refused = r));
    const options = {
      pushed: (r: Result<PushAccepted>, stage: number) => answers[stage]!.push(r),
      // Stage 1's part, 100× once it has pushed HONEST honest ones.
      tamper: (p: GradientPush, stage: number) => (stage === 1 && ++stage1Pushes > HONEST ? scaledPush(p, 100) : p),
      unstaged: (reason: string) => reason.includes(ErrorCode.NORM_OUTLIER) && refused(),
    };
    workers.push(await startStageWorker(run.url, options), await startStageWorker(run.url, options));
    const r1 = run.job.replicas!.list()[0]!;
    const [stage0, stage1] = r1.members;
    await dissolved;
    const [first, second] = answers;
    // The refusals' answers and the dissolution's notice travel apart: wait for the answers too.
    await vi.waitFor(() => expect(second!.length).toBeGreaterThan(HONEST + MAX_CLIPS + 1), { timeout: 10_000, interval: 20 });

    // Stage 1: honest and within the bound, then clipped while its allowance lasts, then refused by name, twice.
    const seen = second!.slice(0, HONEST + MAX_CLIPS + 2);
    expect(seen.slice(0, HONEST).every((r) => r.ok && r.clipped === undefined), JSON.stringify(seen.slice(0, HONEST))).toBe(true);
    for (const r of seen.slice(HONEST, HONEST + MAX_CLIPS)) expect(r).toMatchObject({ ok: true, clipped: expect.toSatisfy((c: number) => c < 0.2) });
    for (const r of seen.slice(HONEST + MAX_CLIPS)) expect(r).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER, message: expect.stringMatching(/^Stage 1 of replica r1: Gradient norm/) });
    // Stage 0's part was never clipped: its answers carry its own part's verdict, not stage 1's.
    expect(first!.filter((r) => r.ok && r.clipped !== undefined)).toEqual([]);
    // Two refusals; a part of the next step in flight when the replica dissolved is answered UNKNOWN_REPLICA.
    expect(run.job.stats.pushesRejected[ErrorCode.NORM_OUTLIER]).toBe(2);
    expect(Object.keys(run.job.stats.pushesRejected).filter((c) => c !== ErrorCode.NORM_OUTLIER && c !== ErrorCode.UNKNOWN_REPLICA)).toEqual([]);
    expect(run.job.stats.pushesClipped).toBe(MAX_CLIPS);

    // The two are kept apart, neither barred: a third worker forms the next replica with stage 0 (first in the queue), stage 1 waits.
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
