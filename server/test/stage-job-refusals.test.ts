/**
 * Job creation with stages > 1 or maxWorkerParamBytes: what would fail in every tab of
 * every replica is refused at creation, with a code and its reason (server/jobs/stage-refusals.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

let run: Running;
beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' });
});
afterAll(async () => run?.close());

const create = (spec: object, topology?: object) => run.coordinator.createJob({ directionThreshold: null, ...spec }, { topology, start: false });
const mnistInput = { batch_input_shape: [null, 28, 28, 1] };
const sequential = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 'staged', layers } });
const dense = (units: number, extra: object = {}) => ({ class_name: 'Dense', config: { units, activation: 'relu', ...extra } });

describe('a model split into stages', () => {
  it('the mlp in 2 and 3 stages is created; a data-parallel job is untouched', async () => {
    expect(await create({ model: 'mlp', stages: 2 })).toMatchObject({ ok: true });
    expect(await create({ model: 'mlp', stages: 3 })).toMatchObject({ ok: true });
    expect(await create({ model: 'mlp' })).toMatchObject({ ok: true });
  });

  it('more stages than layers is refused', async () => {
    expect(await create({ model: 'mlp', stages: 4 })).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/^stages: 4 stages asked for, but the model has 3 layers/) });
  });

  it('a functional topology is refused (a cut would have to cross exactly one tensor)', async () => {
    const functional = {
      class_name: 'Model',
      config: {
        name: 'graph',
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 28, 28, 1] }, inbound_nodes: [] },
          { class_name: 'Flatten', name: 'flat', config: { name: 'flat' }, inbound_nodes: [[['in', 0, 0, {}]]] },
          { class_name: 'Dense', name: 'out', config: { name: 'out', units: 10, activation: 'softmax' }, inbound_nodes: [[['flat', 0, 0, {}]]] },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['out', 0, 0]],
      },
    };
    expect(await create({ model: 'custom' }, functional)).toMatchObject({ ok: true });
    expect(await create({ model: 'custom', stages: 2 }, functional)).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/only a Sequential model can be split/) });
  });

  it('a layer that draws random numbers in training is refused (re-materialisation would draw again)', async () => {
    const withDropout = sequential([{ class_name: 'Flatten', config: mnistInput }, dense(32), { class_name: 'Dropout', config: { name: 'drop', rate: 0.5 } }, dense(10, { activation: 'softmax' })]);
    expect(await create({ model: 'custom' }, withDropout)).toMatchObject({ ok: true });
    expect(await create({ model: 'custom', stages: 2 }, withDropout)).toMatchObject({ ok: false, code: ErrorCode.UNSUPPORTED_LAYER, message: expect.stringMatching(/"drop" \(Dropout\) draws random numbers/) });
  });

  // Each refusal starts with the spec field to change (the dashboard puts it under that input).
  it('a model over maxWorkerParamBytes needs enough stages, and creation says how many', async () => {
    // The mlp: dense1 401,920 bytes, output 5,160.
    expect(await create({ model: 'mlp', maxWorkerParamBytes: 405_000 })).toMatchObject({ ok: false, code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/^stages: .*needs at least 2 stages \(the job asks for 1\)/) });
    expect(await create({ model: 'mlp', maxWorkerParamBytes: 405_000, stages: 2 })).toMatchObject({ ok: true });
    expect(await create({ model: 'mlp', maxWorkerParamBytes: 410_000 })).toMatchObject({ ok: true });
    expect(await create({ model: 'mlp', maxWorkerParamBytes: 400_000, stages: 3 })).toMatchObject({ ok: false, code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/^maxWorkerParamBytes: layer "dense1" alone holds 401920/) });
  });

  it('a round mode is taken with stages > 1 in process (its rounds gather per replica)', async () => {
    expect(await create({ model: 'mlp', stages: 2, mode: 'sync' })).toMatchObject({ ok: true });
    expect(await create({ model: 'mlp', stages: 2, mode: 'local', aggregation: 'multi-krum' })).toMatchObject({ ok: true });
  });
});
