/**
 * The registry agrees with the mode table (shared/modes.ts): every round mode runs on
 * the sync barrier and every other mode applies pushes alone; local mode's PS applies
 * the outer Nesterov step, every other mode the spec's optimizer.
 */
import { expect, it } from 'vitest';
import { parseJobSpec, type JobSpec } from '../../shared/job-spec.js';
import { CONSISTENCY_MODES, MODES } from '../../shared/modes.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';
import { createConsistencyMode, psOptimizerSpec } from './registry.js';
import { SyncBarrier } from './sync-barrier.js';

function specOf(input: object): JobSpec {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

it.each(CONSISTENCY_MODES)('%s runs on the implementation its descriptor calls for', (mode) => {
  const spec = specOf({ mode, optimizer: { type: 'sgd', learningRate: 0.1 }, outerLearningRate: 0.7, outerMomentum: 0.9 });
  const store = new ParameterStore([{ name: 'p', shape: [4] }], [new Float32Array(4)], createOptimizer(psOptimizerSpec(spec)), { apply: { kernels: 'js', threads: 1, parallelFromParams: 0 } });
  try {
    const consistency = createConsistencyMode(spec, { store, clock: new ManualClock(), activeWorkers: () => new Set() });
    expect(consistency instanceof SyncBarrier).toBe(MODES[mode].rounds);
    expect(psOptimizerSpec(spec)).toMatchObject(mode === 'local' ? { type: 'momentum', learningRate: 0.7, momentum: 0.9, nesterov: true } : { type: 'sgd', learningRate: 0.1 });
  } finally {
    store.dispose();
  }
});
