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
      topkRatio: 0.01,
    });
  });

  it('accepts every codec and a top-k ratio in (0, 1]', () => {
    for (const codec of ['fp32', 'fp16', 'int8', 'topk']) expect(parseJobSpec({ codec }).ok).toBe(true);
    expect(parseJobSpec({ codec: 'topk', topkRatio: 0.05 })).toMatchObject({ ok: true, value: { codec: 'topk', topkRatio: 0.05 } });
    expect(parseJobSpec({ codec: 'fp64' })).toMatchObject({ ok: false, message: expect.stringMatching(/codec/) });
    expect(parseJobSpec({ topkRatio: 0 })).toMatchObject({ ok: false, message: expect.stringMatching(/topkRatio/) });
    expect(parseJobSpec({ topkRatio: 1.5 }).ok).toBe(false);
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
