import { describe, expect, it } from 'vitest';
import { CODEC_IDS, createCodec } from './codec.js';
import { parseJobSpec } from './job-spec.js';

// From the registry, so a new codec is in every case below the day it is added.
const DENSE_CODECS = CODEC_IDS.filter((id) => !createCodec(id).sparse);
const SPARSE_CODECS = CODEC_IDS.filter((id) => createCodec(id).sparse);

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
      aggregation: 'mean',
      trimFraction: 0.25,
    });
  });

  it('accepts every codec and a top-k ratio in (0, 1]', () => {
    for (const codec of CODEC_IDS) expect(parseJobSpec({ codec }), codec).toMatchObject({ ok: true, value: { codec } });
    for (const codec of SPARSE_CODECS) expect(parseJobSpec({ codec, topkRatio: 0.05 })).toMatchObject({ ok: true, value: { codec, topkRatio: 0.05 } });
    expect(parseJobSpec({ codec: 'fp64' })).toMatchObject({ ok: false, message: expect.stringMatching(/codec/) });
    expect(parseJobSpec({ topkRatio: 0 })).toMatchObject({ ok: false, message: expect.stringMatching(/topkRatio/) });
    expect(parseJobSpec({ topkRatio: 1.5 }).ok).toBe(false);
  });

  it('accepts a robust aggregation in the round-based modes and a trim fraction in [0, 0.5)', () => {
    for (const mode of ['sync', 'local']) {
      for (const aggregation of ['mean', 'trimmed-mean', 'median', 'multi-krum']) expect(parseJobSpec({ mode, aggregation }).ok, `${mode} ${aggregation}`).toBe(true);
    }
    expect(parseJobSpec({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0 })).toMatchObject({ ok: true, value: { trimFraction: 0 } });
    expect(parseJobSpec({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.49 }).ok).toBe(true);
    expect(parseJobSpec({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.5 })).toMatchObject({ ok: false, message: expect.stringMatching(/^trimFraction:/) });
    expect(parseJobSpec({ trimFraction: -0.1 })).toMatchObject({ ok: false, message: expect.stringMatching(/^trimFraction:/) });
    expect(parseJobSpec({ mode: 'sync', aggregation: 'krum' })).toMatchObject({ ok: false, message: expect.stringMatching(/^aggregation:/) });
  });

  it('refuses a robust aggregation in the async modes and with top-k gradients, naming the field', () => {
    for (const mode of ['async', 'staleness-aware']) {
      const r = parseJobSpec({ mode, aggregation: 'median' });
      expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/^aggregation: median needs a round of gradients.*mode sync or local/) });
    }
    expect(parseJobSpec({ aggregation: 'trimmed-mean' }).ok).toBe(false); // the default mode is async
    expect(parseJobSpec({ mode: 'async', aggregation: 'mean' }).ok).toBe(true);
    expect(SPARSE_CODECS).toEqual(expect.arrayContaining(['topk', 'topk-packed']));
    for (const codec of SPARSE_CODECS) {
      expect(parseJobSpec({ mode: 'sync', aggregation: 'median', codec }), codec).toMatchObject({ ok: false, message: expect.stringContaining(`with codec ${codec} `) });
      expect(parseJobSpec({ mode: 'local', aggregation: 'trimmed-mean', codec }), codec).toMatchObject({ ok: false, message: expect.stringMatching(/^aggregation: /) });
    }
    expect(DENSE_CODECS).toEqual(expect.arrayContaining(['fp32', 'fp16', 'int8']));
    for (const codec of DENSE_CODECS) expect(parseJobSpec({ mode: 'sync', aggregation: 'median', codec }).ok, codec).toBe(true);
  });

  it('names and describes the job after its dataset unless told otherwise', () => {
    const parsed = (input: object) => {
      const r = parseJobSpec(input);
      if (!r.ok) throw new Error(r.message);
      return { name: r.value.name, description: r.value.description };
    };
    expect(parsed({})).toEqual({ name: 'MNIST digits', description: expect.stringContaining('(MNIST)') });
    expect(parsed({ dataset: 'fashion-mnist' })).toEqual({ name: 'Fashion-MNIST clothing', description: expect.stringContaining('(Fashion-MNIST)') });
    expect(parsed({ dataset: 'iris' }).name).toBe('Iris flowers');
    expect(parsed({ dataset: 'toy' })).toEqual({ name: 'toy classifier', description: expect.stringContaining('"toy"') });
    for (const dataset of ['fashion-mnist', 'iris', 'toy']) expect(JSON.stringify(parsed({ dataset }))).not.toMatch(/\bMNIST digits|\(MNIST\)|Handwritten/);
    expect(parsed({ dataset: 'iris', name: 'mine', description: '' })).toEqual({ name: 'mine', description: '' });
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

describe('job spec messages', () => {
  const message = (input: unknown) => {
    const r = parseJobSpec(input);
    if (r.ok) throw new Error('expected a refusal');
    return r.message;
  };

  it('say what is wrong in words, after the field path, without zod jargon', () => {
    expect(message({ optimizer: { learningRate: 50 } })).toBe('optimizer.learningRate: must be at most 10');
    expect(message({ optimizer: { learningRate: 0 } })).toBe('optimizer.learningRate: must be above 0');
    expect(message({ batchSize: 1.5 })).toBe('batchSize: must be a whole number');
    expect(message({ batchSize: 0 })).toBe('batchSize: must be at least 1');
    expect(message({ trimFraction: 0.5 })).toBe('trimFraction: must be below 0.5');
    expect(message({ name: '' })).toBe('name: must not be empty');
    expect(message({ mode: 'fast' })).toBe('mode: must be one of async, staleness-aware, sync, local');
    expect(message({ dataset: 'My Set' })).toMatch(/^dataset: must be 1 to 40 lowercase letters/);
    expect(message({ modle: 'cnn', sped: 1 })).toBe('modle: is not a known field; sped: is not a known field');
    for (const m of [message({ batchSize: 'x' }), message({ optimizer: { learningRate: 50 } }), message({ modle: 1 })]) {
      expect(m).not.toMatch(/Too big|Too small|Invalid input|expected|Unrecognized|\(root\)/);
    }
  });
});

describe('job spec: stages (model parallelism)', () => {
  it('defaults to one stage (data parallelism), 4 micro-batches, no parameter budget, fp32 activations', () => {
    expect(parseJobSpec({})).toMatchObject({ ok: true, value: { stages: 1, microbatches: 4, maxWorkerParamBytes: null, activationCodec: 'fp32' } });
    expect(parseJobSpec({ stages: 3, microbatches: 8, maxWorkerParamBytes: 20_000_000, activationCodec: 'fp16', mode: 'staleness-aware' }).ok).toBe(true);
  });

  it('refuses more than 8 stages, a fraction of a stage, an unknown activation codec and a budget of 0', () => {
    expect(parseJobSpec({ stages: 9 })).toMatchObject({ ok: false, message: expect.stringMatching(/stages/) });
    expect(parseJobSpec({ stages: 1.5 }).ok).toBe(false);
    expect(parseJobSpec({ activationCodec: 'int8' })).toMatchObject({ ok: false, message: expect.stringMatching(/activationCodec/) });
    expect(parseJobSpec({ maxWorkerParamBytes: 0 })).toMatchObject({ ok: false, message: expect.stringMatching(/maxWorkerParamBytes/) });
  });

  it('refuses more micro-batches than a mini-batch has examples, when the model is split', () => {
    expect(parseJobSpec({ stages: 2, batchSize: 8, microbatches: 9 })).toMatchObject({ ok: false, message: expect.stringMatching(/microbatches: 9 micro-batches cannot be cut from a mini-batch of 8/) });
    expect(parseJobSpec({ stages: 2, batchSize: 8, microbatches: 8 }).ok).toBe(true);
    // Data-parallel jobs never cut their batches: a small batch keeps the default M valid.
    expect(parseJobSpec({ batchSize: 2 }).ok).toBe(true);
  });

  it('takes the round modes with stages > 1 (their rounds gather per replica), with every aggregation rule', () => {
    for (const mode of ['sync', 'local']) {
      for (const aggregation of ['mean', 'median', 'trimmed-mean', 'multi-krum']) {
        expect(parseJobSpec({ stages: 2, mode, aggregation }).ok, `${mode} ${aggregation}`).toBe(true);
      }
      expect(parseJobSpec({ mode }).ok, mode).toBe(true);
    }
  });
});
