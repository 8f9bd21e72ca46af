import { describe, expect, it } from 'vitest';
import { jobSpecSchema } from '../../shared/job-spec.js';
import { budgetBytes, budgetMb, splitFieldRead } from './split-inputs.js';

describe('which split fields the create form asks for', () => {
  it('none with one stage, or a stages field that is empty or not a count', () => {
    for (const stages of [1, 0, -3, Number('')]) {
      expect(['microbatches', 'pipelineDepth', 'activationCodec'].filter((f) => splitFieldRead(f as 'microbatches', stages, 'async'))).toEqual([]);
    }
  });

  it('all three with stages > 1 in an async mode; no pipeline depth in a round mode (each step waits for its round)', () => {
    for (const mode of ['async', 'staleness-aware'] as const) {
      expect(splitFieldRead('microbatches', 2, mode)).toBe(true);
      expect(splitFieldRead('pipelineDepth', 2, mode)).toBe(true);
      expect(splitFieldRead('activationCodec', 3, mode)).toBe(true);
    }
    for (const mode of ['sync', 'local'] as const) {
      expect(splitFieldRead('microbatches', 2, mode)).toBe(true);
      expect(splitFieldRead('pipelineDepth', 2, mode)).toBe(false);
      expect(splitFieldRead('activationCodec', 2, mode)).toBe(true);
    }
  });
});

describe('the worker parameter budget, typed in MB, sent in bytes', () => {
  it('empty is no bound', () => {
    expect(budgetBytes('')).toBeNull();
    expect(budgetBytes('  ')).toBeNull();
    expect(budgetMb(null)).toBe('');
  });

  it('MB are 1,000,000 bytes, rounded to whole bytes', () => {
    expect(budgetBytes('0.405')).toBe(405_000);
    expect(budgetBytes('20')).toBe(20_000_000);
    expect(budgetBytes('0.0000014')).toBe(1);
  });

  it('a spec budget comes back to the same bytes through the field (a clone keeps it exactly)', () => {
    for (const bytes of [405_000, 401_920, 1, 23_300_017, 2 ** 31 - 1]) expect(budgetBytes(budgetMb(bytes))).toBe(bytes);
    expect(budgetMb(405_000)).toBe('0.405');
  });

  it('text that is no finite number reads as NaN, for the form to refuse rather than send no bound', () => {
    expect(budgetBytes('1e400')).toBeNaN();
    expect(budgetBytes('lots')).toBeNaN();
  });

  it('the default spec has no budget, so a fresh form leaves the field empty', () => {
    expect(budgetMb(jobSpecSchema.parse({}).maxWorkerParamBytes)).toBe('');
  });
});
