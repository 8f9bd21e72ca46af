/**
 * The direction check judges each stage's part of a replica step on its own (against
 * the same tensors of the PS's trusted gradient) and keeps its verdict per stage worker:
 * over real sockets, two stage workers (StageTrainer on tfjs cpu, real MNIST) train the
 * mlp split in 2 stages while stage 1 pushes its part sign-flipped. The PS takes its own
 * gradient each time the test steps the job's clock. Stage 1's verdict turns to refused
 * and its steps are refused with its stage named; stage 0's verdicts never are.
 */
import { describe, expect, it } from 'vitest';
import { startStageWorker } from '../../bench/stage-worker.js';
import { ErrorCode } from '../../shared/errors.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { DirectionEvents } from '../params/direction-check.js';
import { localParameters, ManualClock } from '../../test-support/index.js';
import { scaledPush, stageRunHooks } from '../../test-support/stage-run.js';

const { start, workers } = stageRunHooks();

describe('the direction check in a split job', () => {
  it("judges each stage's part on its own: a sign-flipping stage 1 is refused by name, stage 0 never", { timeout: 180_000 }, async () => {
    const clock = new ManualClock();
    // The norm bound off: a flipped part keeps an honest norm, and this test is about the direction alone.
    const run = await start({ model: 'mlp', stages: 2, microbatches: 2, batchSize: 32, normBound: 0, directionThreshold: 0, trustedRefreshSeconds: 1, rootSetSize: 256 }, { clock });
    const verdicts: DirectionEvents['judged'][0][] = [];
    localParameters(run.job).direction!.on('judged', (j) => verdicts.push(j));
    let refusedByName = (_r: Result<PushAccepted>) => {};
    const refused = new Promise<Result<PushAccepted>>((r) => (refusedByName = r));
    const options = {
      pushed: (r: Result<PushAccepted>, stage: number) => {
        // Each answered step moves the job's clock on by a refresh: the PS takes its gradient at the parameters now.
        if (stage === 0) clock.advance(1000);
        if (!r.ok && r.code === ErrorCode.DIRECTION_OUTLIER) refusedByName(r);
      },
      tamper: (p: GradientPush, stage: number) => (stage === 1 ? scaledPush(p, -1) : p),
    };
    workers.push(await startStageWorker(run.url, options), await startStageWorker(run.url, options));
    const [stage0, stage1] = run.job.replicas!.list()[0]!.members;
    expect(await refused).toMatchObject({ message: expect.stringMatching(/^Stage 1 of replica r1: This worker's last \d checked gradients point away/) });
    for (const w of workers.splice(0)) w.close();

    // Verdicts are the stages' workers', never the replica's; stage 0's honest part is never refused.
    expect(new Set(verdicts.map((v) => v.workerId))).toEqual(new Set([stage0, stage1]));
    expect(verdicts.filter((v) => v.workerId === stage0 && v.refused)).toEqual([]);
    expect(verdicts.filter((v) => v.workerId === stage1).at(-1)).toMatchObject({ refused: true });
    // Not a fault (DIRECTION_OUTLIER never bars): the replica stays.
    expect(Object.keys(run.job.stats.pushesRejected)).toEqual([ErrorCode.DIRECTION_OUTLIER]);
  });
});
