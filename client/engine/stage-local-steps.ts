/**
 * Local mode (DiLoCo) on one stage of a model replica (docs/model-parallelism.md, "Split
 * jobs in round modes"): after each mini-batch has come back through the stage, its
 * summed gradient is applied at once to the stage's own layers by a tfjs optimizer of
 * its own, built from the job's optimizer and kept across rounds, as LocalExchange does
 * for the whole model. At the round's end the stage pushes its tensors' delta, start −
 * end; the coordinator joins the stages' deltas into the replica's, as it joins their
 * gradients in the other modes.
 *
 * Only between mini-batches: a stage recomputes each micro-batch's forward under the
 * tape when its gradient comes back, so its layers must not move while one is in flight.
 */
import type * as tf from '@tensorflow/tfjs';
import type { OptimizerSpec } from '../../shared/job-spec.js';
import { tfjsOptimizer } from './local-optimizer.js';
import type { StageGradient, StageTrainer } from './stage-trainer.js';

export class StageLocalSteps {
  private readonly optimizer: tf.Optimizer;
  /** The stage's parameters at the round's start (as pulled), one copy per tensor. */
  private start: Float32Array[] = [];
  /** The last stage's losses summed over the round's local steps (null elsewhere). */
  private lossSum: number | null = null;

  constructor(
    private readonly trainer: StageTrainer,
    optimizer: OptimizerSpec,
  ) {
    this.optimizer = tfjsOptimizer(optimizer);
  }

  /** The round starts from these parameters (the round's result, as pulled). */
  started(values: readonly Float32Array[]): void {
    this.start = values.map((v) => v.slice());
    this.lossSum = null;
  }

  /** The mini-batch came back through the stage: one local step on its gradient. */
  async step(): Promise<void> {
    const loss = await this.trainer.localStep(this.optimizer);
    if (loss !== null) this.lossSum = (this.lossSum ?? 0) + loss;
  }

  /** The round's delta, start − end per tensor, and the loss summed over its steps (the last stage's). */
  async delta(): Promise<StageGradient> {
    const end = await this.trainer.readParams();
    const grads = end.map((e, t) => {
      const s = this.start[t]!;
      const d = new Float32Array(e.length);
      for (let i = 0; i < d.length; i++) d[i] = s[i]! - e[i]!;
      return d;
    });
    const loss = this.lossSum;
    this.lossSum = null;
    return { grads, loss };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
