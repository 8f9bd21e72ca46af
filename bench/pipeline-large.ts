/**
 * The pipeline benchmark's rows for a model over one worker's budget (issue 16): the
 * mlp-large (784-2048-2048-10, 23.3 MB of fp32 parameters) with `maxWorkerParamBytes`
 * 20 MB, on ps tasks the bench starts (`--ps N`, default 2, as `npm start -- --ps N`
 * does: the model is over one task's 4M parameters too). One replica of 2 stages
 * (flatten+dense1, 6.4 MB | dense2+output, 16.9 MB), each stage pulling and holding
 * only its own slices on the tasks. Two data-parallel workers cannot run it: each
 * would hold the whole 23.3 MB, over the budget, so that row says so instead of a
 * figure (job creation refuses a 1-stage job over the budget with MODEL_TOO_LARGE).
 */
import type { JobSpecInput, ModelPresetName } from '../shared/job-spec.js';

/** A tab's parameter budget for the large rows: between the largest stage (16.9 MB) and the whole model (23.3 MB). */
export const LARGE_BUDGET_BYTES = 20_000_000;

export interface LargeSetup {
  spec: JobSpecInput;
  ps: number;
}

/** How the staged run of the large model is set up: the budget and the bench's own ps tasks. */
export function largeSetup(ps: number): LargeSetup {
  return { spec: { maxWorkerParamBytes: LARGE_BUDGET_BYTES }, ps };
}

/** The data-parallel row that cannot run, and why. */
export function dataParallelOverBudget(model: ModelPresetName, ps: number) {
  return {
    model,
    replicas: 2,
    stages: 1,
    microbatches: 1,
    path: 'data-parallel' as const,
    ps_tasks: ps,
    examples_per_s: null,
    bubble: null,
    stage_bubbles: null,
    boundary_bytes_per_example: null,
    gpipe_bound: null,
    skipped: `each data-parallel worker would hold the whole model (23.3 MB), over maxWorkerParamBytes ${LARGE_BUDGET_BYTES} bytes: job creation refuses it (MODEL_TOO_LARGE, needs 2 stages)`,
  };
}
