/**
 * A preset larger than one parameter-server task holds (mlp-large, 5.8M parameters) is
 * refused at job creation, through the coordinator and through POST /api/jobs, with a
 * message naming the per-task cap and the ps tasks it needs, before tfjs builds it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

const TOKEN = 'preset-capacity-token';
let run: Running;

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN });
});
afterAll(async () => run?.close());

const NEEDS_TWO = /^model: mlp-large has 5,824,522 parameters; one ps task holds at most 4,000,000 \(4,000,000 per task\): it needs 2 ps tasks: start with --ps 2/;

describe('mlp-large on a coordinator without ps tasks', () => {
  it('is refused by createJob with the per-task cap and the ps tasks it needs', async () => {
    const before = run.coordinator.jobs.list().length;
    expect(await run.coordinator.createJob({ model: 'mlp-large' })).toEqual({ ok: false, code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(NEEDS_TWO) });
    expect(run.coordinator.jobs.list()).toHaveLength(before);
  });

  it('is refused by POST /api/jobs: 400 MODEL_TOO_LARGE, on every dataset', async () => {
    const post = async (spec: object) => {
      const res = await fetch(`${run.url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ spec }),
      });
      return { status: res.status, body: (await res.json()) as object };
    };
    expect(await post({ model: 'mlp-large' })).toEqual({ status: 400, body: { ok: false, code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(NEEDS_TWO) } });
    // 4 features: its 2048 × 2048 layer alone is more than a task holds.
    expect(await post({ model: 'mlp-large', dataset: 'iris' })).toMatchObject({ status: 400, body: { code: ErrorCode.MODEL_TOO_LARGE, message: expect.stringMatching(/^model: mlp-large has 4,212,739 parameters.*--ps 2/) } });
  });

  it('leaves the presets one task holds alone', async () => {
    const created = await run.coordinator.createJob({ model: 'cnn' }, { start: false });
    expect(created.ok).toBe(true);
  });
});
