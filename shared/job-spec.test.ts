import { describe, expect, it } from 'vitest';
import { parseJobSpec } from './job-spec.js';

describe('job spec', () => {
  it('fills every documented default', () => {
    const r = parseJobSpec({});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({
      model: 'cnn',
      dataset: 'mnist',
      optimizer: { type: 'adagrad', learningRate: 0.05 },
      batchSize: 64,
      nFetch: 1,
      nPush: 1,
      shardSize: 1000,
      evalIntervalSeconds: 15,
      codec: 'fp32',
    });
  });

  it('keeps an explicit 0 instead of replacing it with the default', () => {
    const r = parseJobSpec({ maxStaleness: 0 });
    expect(r.ok && r.value.maxStaleness).toBe(0);
  });

  it('refuses unknown keys and bad values, naming each field', () => {
    const r = parseJobSpec({ modle: 'cnn', batchSize: 0, optimizer: { type: 'rmsprop' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/modle/);
    expect(r.message).toMatch(/batchSize/);
    expect(r.message).toMatch(/optimizer\.type/);
  });

  it('does not mutate the caller input', () => {
    const input = { optimizer: { type: 'sgd' as const } };
    parseJobSpec(input);
    expect(input).toEqual({ optimizer: { type: 'sgd' } });
  });
});
