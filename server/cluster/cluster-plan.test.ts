import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterPlanError, MAX_CLUSTER_FILE_BYTES, planCluster } from './cluster-plan.js';

const dir = mkdtempSync(join(tmpdir(), 'cluster-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('planCluster', () => {
  it('keeps the parameter server in this process when neither flag is given', () => {
    expect(planCluster({})).toEqual({ ok: true, plan: { kind: 'embedded' } });
  });

  it('--ps N: N local tasks, 1 to 16', () => {
    expect(planCluster({ ps: '2' })).toEqual({ ok: true, plan: { kind: 'local', tasks: 2 } });
    expect(planCluster({ ps: '1' })).toEqual({ ok: true, plan: { kind: 'local', tasks: 1 } });
    expect(planCluster({ ps: '16' })).toEqual({ ok: true, plan: { kind: 'local', tasks: 16 } });
    for (const bad of ['0', '17', '-1', '1.5', '2e0', 'two', '', ' ', '0x2']) {
      expect(planCluster({ ps: bad }), bad).toMatchObject({ ok: false, code: ClusterPlanError.BAD_PS_COUNT, message: expect.stringMatching(/^--ps: expected an integer from 1 to 16/) });
    }
  });

  it('refuses --ps together with --cluster', () => {
    expect(planCluster({ ps: '2', cluster: file('both.json', '{"ps":["a:1"]}') })).toMatchObject({ ok: false, code: ClusterPlanError.CONFLICTING_FLAGS });
  });

  it('--cluster FILE: the endpoints of a valid ClusterSpec, in task order', () => {
    const path = file('ok.json', JSON.stringify({ ps: ['ps0.example:2222', '[::1]:2223'] }));
    expect(planCluster({ cluster: path })).toEqual({
      ok: true,
      plan: { kind: 'remote', file: path, endpoints: [{ host: 'ps0.example', port: 2222 }, { host: '::1', port: 2223 }] },
    });
  });

  it('gives each bad file its own code and names the file', () => {
    const missing = join(dir, 'nope.json');
    expect(planCluster({ cluster: missing })).toEqual({ ok: false, code: ClusterPlanError.CLUSTER_FILE_MISSING, message: `--cluster ${missing}: no such file` });
    const notJson = file('bad.json', '{"ps": ["a:1",]}');
    expect(planCluster({ cluster: notJson })).toMatchObject({ ok: false, code: ClusterPlanError.CLUSTER_FILE_NOT_JSON, message: expect.stringContaining(notJson) });
    expect(planCluster({ cluster: file('empty.json', '') })).toMatchObject({ ok: false, code: ClusterPlanError.CLUSTER_FILE_NOT_JSON });
    const invalid = file('invalid.json', JSON.stringify({ ps: ['a:1', 'a:1'], worker: [] }));
    expect(planCluster({ cluster: invalid })).toMatchObject({
      ok: false,
      code: ClusterPlanError.CLUSTER_SPEC_INVALID,
      message: expect.stringMatching(/Unrecognized key: "worker".*ps\.1: a:1 is also ps task 0/),
    });
    expect(planCluster({ cluster: file('port.json', '{"ps":["a"]}') })).toMatchObject({ ok: false, code: ClusterPlanError.CLUSTER_SPEC_INVALID, message: expect.stringContaining('"a" is not host:port') });
  });

  it('refuses a directory and a file too large to be a ClusterSpec', () => {
    const sub = join(dir, 'a-dir');
    mkdirSync(sub);
    expect(planCluster({ cluster: sub })).toMatchObject({ ok: false, code: ClusterPlanError.CLUSTER_FILE_UNREADABLE, message: expect.stringMatching(/not a regular file/) });
    const big = file('big.json', ' '.repeat(MAX_CLUSTER_FILE_BYTES + 1));
    expect(planCluster({ cluster: big })).toMatchObject({ ok: false, code: ClusterPlanError.CLUSTER_FILE_UNREADABLE, message: expect.stringMatching(/bytes/) });
  });
});
