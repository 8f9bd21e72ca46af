/**
 * Careless and hostile HTTP: every route, with the operator token, gets a battery of
 * malformed requests (wrong or missing Content-Type, bodies that are not the JSON or
 * the gzip they claim, charsets and encodings we do not read, bodies over the limit,
 * paths that are not valid percent-encoding). Every answer is a coded 4xx (or the
 * route's normal answer when it reads no body), never a 500, nothing is created, and
 * the coordinator keeps answering.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import { startCoordinator, type Running } from '../../test-support/index.js';

const TOKEN = 'malformed-token';
let run: Running;

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN });
});
afterAll(async () => run?.close());

interface Malformed {
  what: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const SPEC = JSON.stringify({ spec: { model: 'mlp' } });

const BODIES: Malformed[] = [
  { what: 'no body', headers: {} },
  { what: 'an empty JSON body', headers: JSON_TYPE, body: '' },
  { what: 'JSON sent as text/plain', headers: { 'content-type': 'text/plain' }, body: SPEC },
  { what: 'JSON with no Content-Type', headers: {}, body: SPEC },
  { what: 'a urlencoded form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'spec=1' },
  { what: 'a multipart form', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\nContent-Disposition: form-data; name="f"\r\n\r\n1\r\n--x--\r\n' },
  { what: 'a latin1 charset', headers: { 'content-type': 'application/json; charset=latin1' }, body: SPEC },
  { what: 'gzip over plain bytes', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, body: SPEC },
  { what: 'deflate over plain bytes', headers: { ...JSON_TYPE, 'content-encoding': 'deflate' }, body: SPEC },
  { what: 'br over plain bytes', headers: { ...JSON_TYPE, 'content-encoding': 'br' }, body: SPEC },
  { what: 'an unknown Content-Encoding', headers: { ...JSON_TYPE, 'content-encoding': 'compress' }, body: SPEC },
  { what: 'gzip twice', headers: { ...JSON_TYPE, 'content-encoding': 'gzip, gzip' }, body: gzipSync(gzipSync(SPEC)) },
  { what: 'truncated JSON', headers: JSON_TYPE, body: '{"spec": {' },
  { what: 'JSON null', headers: JSON_TYPE, body: 'null' },
  { what: 'a JSON string', headers: JSON_TYPE, body: '"spec"' },
  { what: 'a JSON number', headers: JSON_TYPE, body: '12' },
  { what: 'a JSON array', headers: JSON_TYPE, body: '[{"spec": {}}]' },
  { what: 'an empty object', headers: JSON_TYPE, body: '{}' },
  { what: 'spec fields at the top', headers: JSON_TYPE, body: '{"model": "mlp"}' },
  { what: 'a spec that is not an object', headers: JSON_TYPE, body: '{"spec": "mlp"}' },
  { what: 'JSON nested 100,000 deep', headers: JSON_TYPE, body: '{"spec":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}' },
  { what: 'a body over the limit', headers: JSON_TYPE, body: JSON.stringify({ spec: {}, pad: 'x'.repeat(5 * 1024 * 1024) }) },
  { what: 'a gzip bomb', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, body: gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)) },
  { what: 'invalid UTF-8', headers: JSON_TYPE, body: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
];

const ID = 'job-404';
const ROUTES: { method: string; path: string }[] = [
  { method: 'GET', path: '/api/health' },
  { method: 'GET', path: '/api/jobs' },
  { method: 'GET', path: `/api/jobs/${ID}` },
  { method: 'GET', path: '/api/datasets' },
  { method: 'POST', path: '/api/auth/check' },
  { method: 'POST', path: '/api/jobs' },
  ...['start', 'pause', 'resume', 'stop'].map((a) => ({ method: 'POST', path: `/api/jobs/${ID}/${a}` })),
  { method: 'DELETE', path: `/api/jobs/${ID}` },
  { method: 'GET', path: `/api/jobs/${ID}/model` },
  { method: 'GET', path: `/api/jobs/${ID}/model/model.json` },
  { method: 'GET', path: `/api/jobs/${ID}/model/weights.bin` },
  { method: 'GET', path: `/api/jobs/${ID}/weights.bin` },
  { method: 'GET', path: `/api/jobs/${ID}/checkpoints` },
  { method: 'GET', path: `/api/jobs/${ID}/checkpoints/ckpt-000000000001.dpck` },
  { method: 'POST', path: '/api/datasets?name=careless&format=csv' },
  { method: 'DELETE', path: '/api/datasets/careless' },
];

async function send(method: string, path: string, m: Malformed): Promise<{ status: number; body: { ok?: boolean; code?: string; message?: string } | null }> {
  const withBody = method !== 'GET' && m.body !== undefined;
  const res = await fetch(run.url + path, { method, headers: { authorization: `Bearer ${TOKEN}`, ...m.headers }, body: withBody ? m.body : undefined });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // A non-JSON answer fails the checks below with the text in view.
    body = { text };
  }
  return { status: res.status, body };
}

function expectCodedClientAnswer(r: { status: number; body: { ok?: boolean; code?: string } | null }, label: string): void {
  expect(r.status, label).toBeLessThan(500);
  if (r.status >= 400) {
    expect(r.body?.ok, label).toBe(false);
    expect(ALL_ERROR_CODES, label).toContain(r.body?.code);
  }
}

describe('malformed requests get coded 4xx answers on every route', () => {
  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, async () => {
      for (const m of BODIES) expectCodedClientAnswer(await send(route.method, route.path, m), m.what);
      expect(run.coordinator.jobs.list()).toHaveLength(1);
      expect((await (await fetch(run.url + '/api/datasets')).json()).map((d: { name: string }) => d.name)).not.toContain('careless');
      expect((await fetch(run.url + '/api/health')).status).toBe(200);
    });
  }

  it('paths that are not valid percent-encoding, and very long ids', async () => {
    for (const bad of ['%E0%A4%A', '%', '%zz', 'x'.repeat(5000)]) {
      for (const route of ROUTES.filter((r) => r.path.includes(ID))) {
        const r = await send(route.method, route.path.replace(ID, bad), { what: bad, headers: {} });
        expectCodedClientAnswer(r, `${route.method} ${route.path} with ${bad.slice(0, 10)}`);
        expect(r.status, `${route.method} ${route.path}`).toBeGreaterThanOrEqual(400);
      }
    }
  });
});

describe('POST /api/jobs says what was wrong', () => {
  const post = (m: Malformed) => send('POST', '/api/jobs', m);
  const byWhat = (what: string) => BODIES.find((b) => b.what === what)!;

  it('a missing body is 400, a body not declared JSON is 415: neither creates a default job', async () => {
    expect(await post(byWhat('no body'))).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/needs a JSON body/) } });
    expect(await post(byWhat('an empty JSON body'))).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST } });
    expect(await post(byWhat('JSON sent as text/plain'))).toMatchObject({ status: 415, body: { code: ErrorCode.UNSUPPORTED_MEDIA_TYPE, message: expect.stringMatching(/text\/plain/) } });
    expect(await post(byWhat('JSON with no Content-Type'))).toMatchObject({ status: 415, body: { code: ErrorCode.UNSUPPORTED_MEDIA_TYPE } });
    expect(await post(byWhat('an empty object'))).toMatchObject({ status: 400, body: { message: expect.stringMatching(/"spec" is required/) } });
    expect(run.coordinator.jobs.list()).toHaveLength(1);
  });

  it('encodings and charsets it cannot read are 415, bytes that are not what they claim 400', async () => {
    expect(await post(byWhat('gzip over plain bytes'))).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/not valid "gzip" data/) } });
    expect(await post(byWhat('br over plain bytes'))).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST } });
    expect(await post(byWhat('an unknown Content-Encoding'))).toMatchObject({ status: 415, body: { code: ErrorCode.UNSUPPORTED_MEDIA_TYPE, message: expect.stringMatching(/"compress"/) } });
    expect(await post(byWhat('a latin1 charset'))).toMatchObject({ status: 415, body: { code: ErrorCode.UNSUPPORTED_MEDIA_TYPE, message: expect.stringMatching(/LATIN1|latin1/) } });
    expect(await post(byWhat('a body over the limit'))).toMatchObject({ status: 413, body: { code: ErrorCode.PAYLOAD_TOO_LARGE } });
    expect(await post(byWhat('a gzip bomb'))).toMatchObject({ status: 413, body: { code: ErrorCode.PAYLOAD_TOO_LARGE } });
  });

  it('a path that is not valid percent-encoding is 400', async () => {
    expect(await send('GET', '/api/jobs/%E0%A4%A', { what: '', headers: {} })).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST } });
  });

  it('a well-formed request still works: gzip JSON, and {"spec": {}} for every default', async () => {
    const gz = await post({ what: 'gzip', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, body: gzipSync(SPEC) });
    expect(gz).toMatchObject({ status: 201, body: { ok: true, job: { model: 'mlp' } } });
    const defaults = await post({ what: 'defaults', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"spec": {}}' });
    expect(defaults).toMatchObject({ status: 201, body: { ok: true, job: { model: 'cnn', dataset: 'mnist', state: 'draft' } } });
    for (const j of run.coordinator.jobs.list().slice(1)) await run.coordinator.jobs.remove(j.id);
  });
});
