/**
 * Oversized and unsupported custom topologies through POST /api/jobs: refused from the
 * JSON with a code before tfjs builds anything, so the refusal is fast and the
 * coordinator's event loop stays free (another route answers meanwhile).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

const TOKEN = 'topology-token';
let run: Running;

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN });
});
afterAll(async () => run?.close());

const post = async (body: unknown) => {
  const res = await fetch(`${run.url}/api/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean; code?: string; message?: string } };
};

const sequential = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 'careless', layers } });
const dense = (units: number, extra: object = {}) => ({ class_name: 'Dense', config: { units, ...extra } });
const mnistInput = { class_name: 'Flatten', config: { batch_input_shape: [null, 28, 28, 1] } };

describe('custom topologies are sized before they are built', () => {
  it('a 200,000-unit Dense layer (159M parameters) is refused fast, and /api/health answers meanwhile', async () => {
    const topology = sequential([mnistInput, dense(200_000, { activation: 'relu' }), dense(10, { activation: 'softmax' })]);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const [refused, health] = await Promise.all([post({ spec: { model: 'custom' }, topology }), fetch(`${run.url}/api/health`)]);
    delay.disable();
    expect(refused).toMatchObject({ status: 400, body: { code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/159000010 parameters \(counted from its topology\)/) } });
    expect(health.status).toBe(200);
    // tfjs building this model blocked the event loop for seconds and peaked at 1.75 GB.
    expect(delay.max / 1e6).toBeLessThan(200);
    expect(run.coordinator.jobs.list()).toHaveLength(1);
  });

  it('5,000 layers, an unknown layer class, a deep nesting and a 3 MB topology are refused with their codes', async () => {
    const many = sequential(Array.from({ length: 5000 }, (_, i) => dense(2, i === 0 ? { batch_input_shape: [null, 28, 28, 1] } : {})));
    expect(await post({ spec: { model: 'custom' }, topology: many })).toMatchObject({ status: 400, body: { code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/5000 layers/) } });

    const lambda = sequential([mnistInput, { class_name: 'Lambda', config: { name: 'mystery' } }, dense(10)]);
    expect(await post({ spec: { model: 'custom' }, topology: lambda })).toMatchObject({
      status: 400,
      body: { code: ErrorCode.UNSUPPORTED_LAYER, message: expect.stringMatching(/layer "mystery": class Lambda is not supported/) },
    });

    // Written out as text: JSON.stringify itself recurses.
    const deep = `{"spec": {"model": "custom"}, "topology": {"class_name": "Sequential", "config": ${'{"n":'.repeat(5000)}1${'}'.repeat(5000)}}}`;
    expect(await post(deep)).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/nested more than 32 levels/) } });

    const padded = sequential([mnistInput, dense(10, { note: 'x'.repeat(3 * 1024 * 1024) })]);
    expect(await post({ spec: { model: 'custom' }, topology: padded })).toMatchObject({ status: 413, body: { code: ErrorCode.PAYLOAD_TOO_LARGE } });
    expect(run.coordinator.jobs.list()).toHaveLength(1);
  });

  it('a model this coordinator cannot differentiate (no wasm gradient kernel) is a coded 400 with the way out, not a 500', async () => {
    const depthwise = sequential([
      { class_name: 'DepthwiseConv2D', config: { batch_input_shape: [null, 28, 28, 1], kernel_size: 3, name: 'dw' } },
      { class_name: 'Flatten', config: {} },
      dense(10, { activation: 'softmax' }),
    ]);
    const refused = await post({ spec: { model: 'custom' }, topology: depthwise });
    expect(refused).toMatchObject({ status: 400, body: { code: ErrorCode.UNSUPPORTED_LAYER, message: expect.stringMatching(/cannot compute this model's gradient .*normBound: 0/) } });
    const unanchored = await post({ spec: { model: 'custom', normBound: 0 }, topology: depthwise });
    expect(unanchored.status).toBe(201);
    await run.coordinator.jobs.remove((unanchored.body as unknown as { job: { id: string } }).job.id);
  });

  it('a topology within the bounds is still built and checked by tfjs', async () => {
    const ok = await post({ spec: { model: 'custom' }, topology: sequential([mnistInput, dense(10, { activation: 'softmax' })]) });
    expect(ok).toMatchObject({ status: 201, body: { ok: true } });
    await run.coordinator.jobs.remove((ok.body as unknown as { job: { id: string } }).job.id);
  });
});
