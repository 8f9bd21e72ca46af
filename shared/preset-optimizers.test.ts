/**
 * A preset's own learning rate (mlp-large's) fills a spec that leaves the rate out,
 * and nothing else: an operator's rate, another optimizer type and the other presets
 * keep the schema's defaults.
 */
import { describe, expect, it } from 'vitest';
import { jobSpecSchema, parseJobSpec, type JobSpec } from './job-spec.js';
import { PRESET_OPTIMIZERS } from './preset-optimizers.js';

const parsed = (input: unknown): JobSpec => {
  const r = parseJobSpec(input);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};
const SCHEMA_LR = jobSpecSchema.parse({}).optimizer.learningRate;
const LARGE = PRESET_OPTIMIZERS['mlp-large']!;

describe("a preset's learning rate", () => {
  it('is lower than the schema default for mlp-large, on its default optimizer type', () => {
    expect(LARGE.type).toBe(jobSpecSchema.parse({}).optimizer.type);
    expect(LARGE.learningRate).toBeLessThan(SCHEMA_LR);
  });

  it('fills an mlp-large spec without an optimizer, or with one that leaves the rate out', () => {
    expect(parsed({ model: 'mlp-large' }).optimizer).toEqual({ ...jobSpecSchema.parse({}).optimizer, learningRate: LARGE.learningRate });
    expect(parsed({ model: 'mlp-large', optimizer: { type: 'adagrad', initialAccumulatorValue: 0.2 } }).optimizer).toMatchObject({ learningRate: LARGE.learningRate, initialAccumulatorValue: 0.2 });
  });

  it("gives way to the operator's rate and to another optimizer type", () => {
    expect(parsed({ model: 'mlp-large', optimizer: { learningRate: 0.05 } }).optimizer.learningRate).toBe(0.05);
    expect(parsed({ model: 'mlp-large', optimizer: { type: 'sgd' } }).optimizer.learningRate).toBe(SCHEMA_LR);
  });

  it('leaves the other presets and custom models at the schema default', () => {
    for (const model of ['mlp', 'cnn', 'custom']) expect(parsed({ model }).optimizer.learningRate).toBe(SCHEMA_LR);
    expect(parsed({}).optimizer.learningRate).toBe(SCHEMA_LR);
  });

  it("does not touch the caller's object, and leaves bad input to the schema", () => {
    const input = { model: 'mlp-large', optimizer: { type: 'adagrad' } };
    parsed(input);
    expect(input).toEqual({ model: 'mlp-large', optimizer: { type: 'adagrad' } });
    expect(parseJobSpec({ model: 'mlp-large', optimizer: 'fast' })).toMatchObject({ ok: false, message: expect.stringMatching(/^optimizer/) });
    expect(parseJobSpec({ model: 'mlp-large', optimizer: { learningRate: -1 } })).toMatchObject({ ok: false, message: expect.stringMatching(/^optimizer\.learningRate/) });
  });
});
