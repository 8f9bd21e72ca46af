import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { MAX_MODEL_PARAMETERS } from '../coordinator.js';
import { capacityRefusal, PARAMETERS_PER_PS_TASK, psTasksFor } from './capacity.js';
import { presetCapacityRefusal } from './preset-capacity.js';

describe('parameter-server capacity', () => {
  it("is one coordinator process's worth per task", () => {
    expect(PARAMETERS_PER_PS_TASK).toBe(MAX_MODEL_PARAMETERS);
  });

  it('counts the tasks a model needs', () => {
    expect([0, 1, 4_000_000, 4_000_001, 5_824_522, 8_000_000, 8_000_001].map(psTasksFor)).toEqual([1, 1, 1, 2, 2, 2, 3]);
  });

  it('refuses what the tasks cannot hold, naming the per-task cap and the tasks needed', () => {
    expect(capacityRefusal('mlp', 101_770, 1)).toBeNull();
    expect(capacityRefusal('big', 4_000_000, 1)).toBeNull();
    expect(capacityRefusal('big', 9_000_000, 1)).toEqual({
      ok: false,
      code: ErrorCode.MODEL_TOO_LARGE,
      message: 'big has 9,000,000 parameters; one ps task holds at most 4,000,000 (4,000,000 per task): it needs 3 ps tasks: start with --ps 3 or a --cluster of 3',
    });
    expect(capacityRefusal('big', 9_000_000, 2)?.message).toMatch(/^big has 9,000,000 parameters; 2 ps tasks hold at most 8,000,000 .*--ps 3/);
    expect(capacityRefusal('big', 9_000_000, 3)).toBeNull();
  });

  it('sizes presets on the job dataset, leaving custom models and unknown datasets to the job checks', () => {
    const datasets = {
      has: (name: string) => name !== 'nope',
      get: (name: string) => {
        if (name === 'broken') throw new Error('package not installed');
        return name === 'wide' ? { featureShape: [40_000], numClasses: 2 } : { featureShape: [28, 28, 1], numClasses: 10 };
      },
    };
    expect(presetCapacityRefusal({ model: 'mlp-large', dataset: 'mnist' }, datasets)?.message).toMatch(/^model: mlp-large has 5,824,522 parameters/);
    expect(presetCapacityRefusal({ model: 'mlp-large', dataset: 'mnist' }, datasets, 2)).toBeNull();
    expect(presetCapacityRefusal({ model: 'mlp', dataset: 'mnist' }, datasets)).toBeNull();
    // 40,000 features: even the small mlp is 5.1M parameters.
    expect(presetCapacityRefusal({ model: 'mlp', dataset: 'wide' }, datasets)?.message).toMatch(/^model: mlp has 5,120,386 parameters.*--ps 2/);
    expect(presetCapacityRefusal({ model: 'custom', dataset: 'mnist' }, datasets)).toBeNull();
    expect(presetCapacityRefusal({ model: 'mlp-large', dataset: 'nope' }, datasets)).toBeNull();
    expect(presetCapacityRefusal({ model: 'mlp-large', dataset: 'broken' }, datasets)).toBeNull();
  });
});
