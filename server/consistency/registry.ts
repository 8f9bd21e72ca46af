/**
 * Which implementation runs each consistency mode (shared/modes.ts describes them), and
 * the optimizer the parameter server applies under it. Keyed by every mode name, so a
 * mode added to the table does not compile until it is registered here.
 */
import type { JobSpec, OptimizerSpec } from '../../shared/job-spec.js';
import type { ConsistencyModeName } from '../../shared/modes.js';
import { AsyncMode } from './async.js';
import type { ConsistencyMode, ModeContext } from './consistency-mode.js';
import { outerOptimizerSpec } from './outer-optimizer.js';
import { StalenessAwareMode } from './staleness-aware.js';
import { SyncBarrier } from './sync-barrier.js';

interface ModeImplementation {
  create(spec: JobSpec, ctx: ModeContext): ConsistencyMode;
  /** The update rule the PS applies to what the mode hands it. */
  optimizer(spec: JobSpec): OptimizerSpec;
}

/** The round modes' barrier (MODES[name].rounds). */
function roundBarrier(spec: JobSpec, ctx: ModeContext): ConsistencyMode {
  return new SyncBarrier(ctx, {
    backupWorkers: spec.backupWorkers,
    roundTimeoutMs: spec.roundTimeoutSeconds * 1000,
    aggregation: { aggregation: spec.aggregation, trimFraction: spec.trimFraction },
  });
}

const specOptimizer = (spec: JobSpec) => spec.optimizer;

const IMPLEMENTATIONS: { readonly [M in ConsistencyModeName]: ModeImplementation } = {
  async: { create: (spec, ctx) => new AsyncMode(ctx.store, spec.maxStaleness), optimizer: specOptimizer },
  'staleness-aware': { create: (spec, ctx) => new StalenessAwareMode(ctx.store, spec.maxStaleness), optimizer: specOptimizer },
  sync: { create: roundBarrier, optimizer: specOptimizer },
  // `optimizer` is the workers' inner one; the PS runs DiLoCo's outer Nesterov step on the round's delta.
  local: { create: roundBarrier, optimizer: outerOptimizerSpec },
};

export function createConsistencyMode(spec: JobSpec, ctx: ModeContext): ConsistencyMode {
  return IMPLEMENTATIONS[spec.mode].create(spec, ctx);
}

/** The optimizer the parameter server applies in `spec`'s mode. */
export function psOptimizerSpec(spec: JobSpec): OptimizerSpec {
  return IMPLEMENTATIONS[spec.mode].optimizer(spec);
}
