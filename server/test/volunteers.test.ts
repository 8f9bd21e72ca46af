/**
 * Volunteers' lasting contribution through a real coordinator: the hello's volunteer id
 * is validated; accepted pushes (and only those) add examples and the compute time the
 * coordinator's clock measured; the totals survive a coordinator restart; the chosen
 * name is checked; the leaderboard names only volunteers who chose a name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { sizeOf } from '../../shared/tensors.js';
import type { Leaderboard, VolunteerRecord } from '../../shared/volunteer-protocol.js';
import { NO_LATE_SLOTS, connectTestWorker, LeasedPusher, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const ADA = '0123456789abcdef0123456789abcdef';
const BOB = 'fedcba9876543210fedcba9876543210';

const dir = mkdtempSync(join(tmpdir(), 'downpour-volunteer-test-'));
const open: Running[] = [];
const sockets: TestWorker[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  pushers.clear();
  for (const r of open.splice(0)) await r.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(options: Parameters<typeof startCoordinator>[1] = {}): Promise<Running> {
  const run = await startCoordinator({ model: 'mlp', name: 'digits' }, options);
  open.push(run);
  return run;
}

async function hello(run: Running, volunteerId?: unknown) {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const r = await w.emitWithAck('worker:hello', { userAgent: 'vitest', volunteerId } as { userAgent: string; volunteerId?: string });
  return { w, r };
}

const pushers = new Map<TestWorker, LeasedPusher>();

/** One mini-batch of small gradients on the worker's lease (leasing one first), against the current version. */
function send(run: Running, w: TestWorker, job: JobAssignment, fill = 1e-3): Promise<Result<PushAccepted>> {
  let pusher = pushers.get(w);
  if (!pusher) pushers.set(w, (pusher = new LeasedPusher(w, job.jobId)));
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  return pusher.push({ baseVersion: run.job.version, loss: 2.3, ...payload });
}

async function get<T>(run: Running, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(run.url + path);
  return { status: res.status, body: (await res.json()) as T };
}

async function put<T>(run: Running, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(run.url + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

describe('the hello carries a volunteer id', () => {
  it.each([
    ['too short', 'abc'],
    ['upper case', ADA.toUpperCase()],
    ['too long', ADA + '0'],
    ['markup', '<script>alert(1)</script>'.padEnd(32, 'x')],
    ['a number', 12345],
  ])('refuses one that is %s with BAD_REQUEST', async (_what, id) => {
    const run = await start();
    const { r } = await hello(run, id);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(r.ok === false && r.message).toContain('volunteerId');
  });

  it('accepts a well-formed one, and none at all', async () => {
    const run = await start();
    expect((await hello(run, ADA)).r.ok).toBe(true);
    expect((await hello(run)).r.ok).toBe(true);
    expect((await hello(run, null)).r.ok).toBe(true);
  });
});

describe('contribution', () => {
  it('adds the examples of accepted pushes and the time between them on the coordinator clock, not refused ones', async () => {
    const clock = new ManualClock();
    const run = await start({ clock, contributions: { maxGapMs: 60_000 } });
    const a = await hello(run, ADA);
    const anon = await hello(run);
    if (!a.r.ok || !a.r.job) throw new Error('no assignment');
    const job = a.r.job;

    expect((await send(run, a.w, job)).ok).toBe(true);
    clock.advance(1500);
    expect((await send(run, a.w, job)).ok).toBe(true);
    clock.advance(2000);
    expect((await send(run, a.w, job, Number.NaN)).ok).toBe(false); // NON_FINITE: no credit
    clock.advance(500);
    expect((await send(run, a.w, job)).ok).toBe(true);
    // A pause longer than the cap earns the cap at most.
    clock.advance(10 * 60_000);
    // The lease lapsed meanwhile (leaseSeconds): that push earns nothing, the next one on a fresh lease does.
    expect(await send(run, a.w, job)).toMatchObject({ ok: false, code: ErrorCode.LEASE_LOST });
    expect((await send(run, a.w, job)).ok).toBe(true);
    // A worker without an id trains for the job only.
    expect((await send(run, anon.w, job)).ok).toBe(true);

    const { status, body } = await get<VolunteerRecord>(run, `/api/volunteers/${ADA}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: ADA, examples: 4 * 64, computeSeconds: 1.5 + 2.5 + 60, displayName: null, team: null });
    expect(body.jobs).toEqual([expect.objectContaining({ jobId: job.jobId, jobName: 'digits', examples: 256, computeSeconds: 64 })]);
    expect(body.jobs[0]!.job).toMatchObject({ id: job.jobId, state: 'running', model: 'mlp', dataset: 'mnist', trainExamples: 60_000, numClasses: 10 });
    expect(run.job.stats.examplesSeen).toBe(5 * 64);
  });

  it('credits a sync job\'s push when its round closes (the lease\'s examples, not what was counted before the answer)', async () => {
    const open1 = await startCoordinator({ model: 'mlp', name: 'rounds', mode: 'sync' });
    open.push(open1);
    const a = await hello(open1, ADA);
    if (!a.r.ok || !a.r.job) throw new Error('no assignment');
    expect(await send(open1, a.w, a.r.job)).toMatchObject({ ok: true, version: 1 });
    expect((await get<VolunteerRecord>(open1, `/api/volunteers/${ADA}`)).body.examples).toBe(64);
  });

  it('a report of no training ends the span: the pause is not counted', async () => {
    const clock = new ManualClock();
    const run = await start({ clock });
    const a = await hello(run, ADA);
    if (!a.r.ok || !a.r.job) throw new Error('no assignment');
    await send(run, a.w, a.r.job);
    clock.advance(1000);
    await send(run, a.w, a.r.job);
    a.w.emit('worker:report', { backend: 'wasm', adapter: null, examplesPerSecond: 0 });
    clock.advance(30_000);
    await send(run, a.w, a.r.job);
    expect((await get<VolunteerRecord>(run, `/api/volunteers/${ADA}`)).body.computeSeconds).toBe(1);
  });

  it('lasts across a coordinator restart, and a new tab with the same id adds to it', async () => {
    const dataDir = join(dir, 'restart');
    const first = await start({ dataDir });
    const a = await hello(first, ADA);
    if (!a.r.ok || !a.r.job) throw new Error('no assignment');
    await send(first, a.w, a.r.job);
    await send(first, a.w, a.r.job);
    a.w.disconnect();
    await first.close();
    open.splice(open.indexOf(first), 1);

    // The same data dir: the job is restored, not created again (startCoordinator would add one).
    const { createCoordinator } = await import('../coordinator.js');
    const again = createCoordinator({ dataDir, slots: NO_LATE_SLOTS });
    await again.restore();
    const { port } = await again.listen(0, '127.0.0.1');
    const run: Running = { coordinator: again, url: `http://127.0.0.1:${port}`, job: again.jobs.list()[0]!, close: () => again.close() };
    open.push(run);
    expect((await get<VolunteerRecord>(run, `/api/volunteers/${ADA}`)).body.examples).toBe(128);
    const b = await hello(run, ADA);
    if (!b.r.ok || !b.r.job) throw new Error('no assignment after restart');
    await send(run, b.w, b.r.job);
    expect((await get<VolunteerRecord>(run, `/api/volunteers/${ADA}`)).body.examples).toBe(192);
  });

  it('an unknown well-formed id has an empty record; a malformed one is refused', async () => {
    const run = await start();
    expect((await get<VolunteerRecord>(run, `/api/volunteers/${BOB}`)).body).toEqual({
      id: BOB, displayName: null, team: null, examples: 0, computeSeconds: 0, firstSeen: null, lastSeen: null, jobs: [],
    });
    const bad = await get<{ code: string }>(run, '/api/volunteers/..%2Fetc');
    expect(bad).toMatchObject({ status: 400, body: { code: ErrorCode.BAD_REQUEST } });
  });
});

describe('profile and leaderboard', () => {
  it('checks the name and team, keeps markup as text, and names only volunteers who chose a name', async () => {
    const run = await start();
    const a = await hello(run, ADA);
    const b = await hello(run, BOB);
    if (!a.r.ok || !a.r.job || !b.r.ok) throw new Error('no assignment');
    for (let i = 0; i < 3; i++) await send(run, a.w, a.r.job);
    await send(run, b.w, a.r.job);

    const refused = async (body: unknown, text: string) => {
      const r = await put<{ code: string; message: string }>(run, `/api/volunteers/${ADA}/profile`, body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(ErrorCode.BAD_REQUEST);
      expect(r.body.message).toContain(text);
    };
    await refused({ displayName: 'x'.repeat(33), team: null }, 'at most 32');
    await refused({ displayName: 'Ada\u202Egnp.exe', team: null }, 'letters, digits');
    await refused({ displayName: 'Ada', team: 'line\nbreak' }, 'team');
    await refused({ displayName: 'Ada' }, 'body');
    await refused({ displayName: 'Ada', team: null, admin: true }, 'body');

    const markup = '<img src=x onerror=alert(1)>';
    const saved = await put<VolunteerRecord>(run, `/api/volunteers/${ADA}/profile`, { displayName: `  ${markup}  `, team: 'Ana  lytical' });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ displayName: markup, team: 'Ana lytical', examples: 192 });

    const board = (await get<Leaderboard>(run, '/api/leaderboard')).body;
    expect(board.volunteers).toEqual([{ name: markup, team: 'Ana lytical', examples: 192, computeSeconds: expect.any(Number) }]);
    expect(board.anonymous).toMatchObject({ volunteers: 1, examples: 64 });
    expect(board.teams).toEqual([expect.objectContaining({ team: 'Ana lytical', members: 1, examples: 192 })]);
    expect(JSON.stringify(board)).not.toContain(ADA);
    expect(JSON.stringify(board)).not.toContain(BOB);

    // Leaving the name empty makes the volunteer anonymous again.
    await put(run, `/api/volunteers/${ADA}/profile`, { displayName: '', team: null });
    const after = (await get<Leaderboard>(run, '/api/leaderboard')).body;
    expect(after.volunteers).toEqual([]);
    expect(after.anonymous).toMatchObject({ volunteers: 2, examples: 256 });
  });
});

describe('before Start', () => {
  it('serves the project its owner set, and the job a tab would train now', async () => {
    const run = await start({ project: { name: 'Digits for science', operator: 'Example Lab', contact: 'ml@example.org', privacy: 'We keep gradients only.' } });
    expect((await get(run, '/api/project')).body).toEqual({ name: 'Digits for science', operator: 'Example Lab', contact: 'ml@example.org', privacy: 'We keep gradients only.' });
    const current = (await get<{ job: { id: string; name: string; model: string; dataset: string; parameters: number } }>(run, '/api/current-job')).body;
    expect(current.job).toMatchObject({ id: run.job.id, name: 'digits', model: 'mlp', dataset: 'mnist', parameters: 101_770 });
    run.job.control('pause');
    expect((await get(run, '/api/current-job')).body).toEqual({ job: null });
    expect((await get(run, `/api/jobs/${run.job.id}/card`)).body).toMatchObject({ state: 'paused' });
    expect((await get(run, '/api/jobs/job-999/card')).status).toBe(404);
  });

  it('a coordinator without project settings names no operator', async () => {
    const run = await start();
    expect((await get(run, '/api/project')).body).toEqual({ name: 'Downpour', operator: null, contact: null, privacy: null });
  });
});
