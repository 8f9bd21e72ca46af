/**
 * Hostile input on a ps task process (server/ps-task/main.ts, forked as `npm run ps`
 * starts it): a few thousand seeded messages to its worker namespace with no ticket or
 * a forged, expired, other-job or other-task one, and with a valid ticket but
 * malformed payloads (wrong shapes, NaN, truncated buffers, huge sizes, future and past
 * versions, stage parts of a job not split, whole pushes of a split one), and to its
 * control namespace with no, forged, stale-epoch or other-event chief credentials. The
 * task stays up, every message gets a coded refusal or its socket is disconnected, the
 * fuzzed jobs' slices and optimizer state stay bit-identical (async, split, rounds),
 * the real chief is still admitted (a forged credential's epoch moved nothing) and an
 * honest worker on another job keeps training through the task.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { asBytes, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsControlEvents } from '../../shared/ps-protocol.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { connectChief, connectPsWorker, jobCreateMessage, type PsControlClient, type PsWorkerClient } from '../../test-support/ps-clients.js';
import { MLP, seededValues } from '../../test-support/ps-fixture.js';
import { forkPsTask, type PsTaskProcess } from '../../test-support/ps-process.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { signTicket } from '../cluster/tickets.js';
import { noOutcomes, sendFuzzed, type FuzzOutcome } from '../../test-support/fuzz-answers.js';

const MESSAGES = 3000;
const TOKEN = 'fuzz-ps-task-cluster-token-0123456789abcdef';
const keys = deriveClusterKeys(TOKEN);
const strangerKeys = deriveClusterKeys('a-stranger-with-its-own-token-0123456789ab');
const EPOCH = 3;
/** A split job's slices here: one layer of each of two stages. */
const SPLIT: TensorSpec[] = [
  { name: 'dense1/bias', shape: [128] },
  { name: 'output/kernel', shape: [128, 10] },
];
const FUZZED = ['job-async', 'job-split', 'job-rounds', 'job-split-rounds'] as const;

let root: string;
let task: PsTaskProcess;
let chief: PsControlClient;

const ticket = (worker: string, job: string, opts: { task?: number; expires?: number; k?: typeof keys } = {}) =>
  signTicket(opts.k ?? keys, { worker, job, task: opts.task ?? 0, expires: opts.expires ?? Date.now() + 3_600_000 });

/** What the task holds of `jobId` (values and optimizer state), as a digest of its exact bytes, and its version. */
async function snapshot(jobId: string): Promise<{ version: number; sha: string }> {
  const s = await chief.emitWithAck('params:snapshot', { chief: chiefCredential(keys, EPOCH, 'params:snapshot', jobId), jobId });
  if (!s.ok) throw new Error(`${s.code}: ${s.message}`);
  return { version: s.version, sha: createHash('sha256').update(asBytes(s.data)).digest('hex') };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'downpour-fuzz-ps-'));
  writeFileSync(join(root, 'token'), TOKEN);
  task = await forkPsTask(join(root, 'data'), join(root, 'token'));
  chief = await connectChief(task.url);
  const create = async (jobId: string, slices: TensorSpec[], extra: object = {}) => {
    const msg = jobCreateMessage(keys, EPOCH, { jobId, task: 0, slices, initial: slices.map((s, i) => seededValues(i + 1, sizeOf(s.shape), 0.1)), optimizer: { type: 'adagrad', learningRate: 0.1 }, maxStaleness: 4, keepVersions: 4 });
    const r = await chief.emitWithAck('job:create', { ...msg, ...extra });
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  };
  await create('job-async', MLP);
  await create('job-split', SPLIT, { split: true });
  await create('job-rounds', MLP, { rounds: { aggregation: 'mean', trimFraction: 0 } });
  await create('job-split-rounds', SPLIT, { split: true, rounds: { aggregation: 'median', trimFraction: 0 } });
  await create('job-honest', MLP);
}, 90_000);
afterAll(async () => {
  chief?.disconnect();
  await task?.kill();
  rmSync(root, { recursive: true, force: true });
});

type Channel = 'worker' | 'control';

it(`a ps task survives ${MESSAGES} hostile messages with coded refusals, untouched slices and an honest worker training`, async () => {
  const before = await Promise.all(FUZZED.map(snapshot));

  // The honest worker: pull, then push a small gradient on what it pulled, until told to stop.
  const honest = await connectPsWorker(task.url);
  const honestTicket = ticket('w-honest', 'job-honest');
  let honestAccepted = 0;
  let honestRunning = true;
  // Waiters for the honest worker's next accepted push: the fuzz waits for one now and then,
  // so the worker is shown to train *during* the attack however fast either side runs.
  let onAccepted: (() => void)[] = [];
  const honestLoop = (async () => {
    while (honestRunning) {
      const pulled = await honest.emitWithAck('params:pull', { ticket: honestTicket, jobId: 'job-honest' });
      if (!pulled.ok) throw new Error(`${pulled.code}: ${pulled.message}`);
      const g = encodeTensors(MLP.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-4) })));
      const r = await honest.emitWithAck('grads:push', { ticket: honestTicket, jobId: 'job-honest', baseVersion: pulled.version, ...g });
      if (!r.ok) continue;
      honestAccepted++;
      const waiting = onAccepted;
      onAccepted = [];
      waiting.forEach((w) => w());
    }
  })();
  const nextHonestPush = () => Promise.race([new Promise<void>((resolve) => onAccepted.push(resolve)), honestLoop.then(() => Promise.reject(new Error('the honest worker stopped')))]);

  const rand = seededRandom(2718);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const seen = new Map<string, number>();
  const outcomes = noOutcomes();

  const good = (slices: TensorSpec[], value = 1e-3) => encodeTensors(slices.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(value) })));
  const asyncPush = good(MLP);
  const splitPart = good(SPLIT);
  const valid = (job: string) => ticket('w-fuzz', job);
  /** Tickets that must not open any door. */
  const badTickets = (job: string) => [
    undefined,
    42,
    '',
    'x'.repeat(100_000),
    'not.a.ticket',
    ticket('w-fuzz', job, { k: strangerKeys }),
    ticket('w-fuzz', job, { expires: Date.now() - 1000 }),
    ticket('w-fuzz', 'job-honest'),
    ticket('w-fuzz', job, { task: 1 }),
    `${valid(job).split('.')[0]}.${'A'.repeat(43)}`,
  ];
  const bent = (p: typeof asyncPush, how: number) => {
    switch (how) {
      case 0: {
        const data = new Uint8Array(asBytes(p.data));
        new Float32Array(data.buffer)[Math.floor(rand() * 1000)] = pick([NaN, Infinity, -Infinity]);
        return { ...p, data };
      }
      case 1:
        return { ...p, data: asBytes(p.data).subarray(0, Math.floor(rand() * asBytes(p.data).length)) };
      case 2:
        return { ...p, data: new Uint8Array(asBytes(p.data).length + 4096) };
      case 3:
        return { ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.map((t, i) => (i === 0 ? { ...t, shape: [1e9, 1e9] } : t)) } };
      case 4:
        return { ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.slice(1) } };
      case 5:
        return { ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.map((t) => ({ ...t, dtype: 'float64' })) } };
      case 6:
        return { ...p, manifest: { ...p.manifest, codec: pick(['fp64', '', '__proto__', 'int8']) } };
      case 7:
        return { ...p, manifest: { ...p.manifest, tensors: [...p.manifest.tensors].reverse() } };
      default:
        return { ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.map((t, i) => (i === 0 ? { ...t, name: 'nope/kernel' } : t)) } };
    }
  };
  const ref = (event: keyof PsControlEvents, jobId: string) => ({ chief: chiefCredential(keys, EPOCH, event, jobId), jobId });
  /** Chief credentials that must not be admitted: forged, stale, for another event or job, or none. */
  const badChief = (event: keyof PsControlEvents, jobId: string) =>
    pick([
      undefined,
      { epoch: EPOCH, proof: 'x' },
      chiefCredential(strangerKeys, EPOCH, event, jobId),
      chiefCredential(strangerKeys, 1e9, event, jobId),
      { epoch: 1e12, proof: chiefCredential(keys, EPOCH, event, jobId).proof },
      chiefCredential(keys, EPOCH - 1, event, jobId),
      chiefCredential(keys, EPOCH, 'params:snapshot', jobId),
      chiefCredential(keys, EPOCH, event, 'job-honest'),
      { epoch: -1, proof: 7 },
    ]);

  const worker: (() => [string, unknown])[] = [
    () => ['grads:push', { ticket: pick(badTickets('job-async')), jobId: 'job-async', baseVersion: 0, ...asyncPush }],
    () => ['params:pull', { ticket: pick(badTickets('job-async')), jobId: pick(['job-async', 'job-split']) }],
    () => ['grads:hold', { ticket: pick(badTickets('job-split')), jobId: 'job-split', baseVersion: 0, ...splitPart }],
    () => ['grads:slot', { ticket: pick(badTickets('job-async')), jobId: 'job-async', bytes: 1000 }],
    () => ['grads:push', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: 0, ...bent(asyncPush, Math.floor(rand() * 9)) }],
    () => ['grads:push', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: pick([1e9, 5, -1, 0.5, NaN]), ...asyncPush }],
    () => ['grads:push', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: 0, ...asyncPush, extra: pick([1, { __proto__: { ok: true } }]) }],
    () => ['grads:push', pick([null, 42, 'x', [], { ticket: valid('job-async') }, { ticket: valid('job-async'), jobId: 'job-async' }])],
    () => ['grads:push', { ticket: valid('job-split'), jobId: 'job-split', baseVersion: 0, ...splitPart }],
    () => ['grads:hold', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: 0, ...asyncPush }],
    () => ['grads:hold', { ticket: valid('job-split'), jobId: 'job-split', baseVersion: pick([0, 1e9]), ...bent(splitPart, Math.floor(rand() * 9)) }],
    () => ['grads:hold', { ticket: valid('job-split'), jobId: 'job-split', baseVersion: 0, ...good([SPLIT[1]!, SPLIT[0]!]) }],
    () => ['grads:push', { ticket: valid('job-rounds'), jobId: 'job-rounds', baseVersion: pick([1, 7, 1e9]), ...asyncPush }],
    () => ['grads:push', { ticket: valid('job-rounds'), jobId: 'job-rounds', baseVersion: 0, ...bent(asyncPush, Math.floor(rand() * 9)) }],
    () => ['grads:hold', { ticket: valid('job-split-rounds'), jobId: 'job-split-rounds', baseVersion: pick([1, 7, 1e9]), ...splitPart }],
    () => ['grads:hold', { ticket: valid('job-split-rounds'), jobId: 'job-split-rounds', baseVersion: 0, ...bent(splitPart, Math.floor(rand() * 9)) }],
    () => ['grads:push', { ticket: valid('job-split-rounds'), jobId: 'job-split-rounds', baseVersion: 0, ...splitPart }],
    // A control event on the worker namespace, even with the chief's own credential.
    () => ['round:close', { ...ref('round:close', 'job-split-rounds'), round: 0, members: [['w-fuzz']] }],
    () => ['params:pull', { ticket: valid('job-async'), jobId: 'job-async', have: pick([-1, 0.5, 'v1', 1e300, {}]) }],
    () => ['params:pull', { ticket: valid('job-async'), jobId: 'job-async', slices: pick([['nope'], Array(2000).fill('x'), 'all', [MLP[0]!.name, MLP[0]!.name]]) }],
    () => ['grads:slot', { ticket: valid('job-async'), jobId: 'job-async', bytes: pick([-1, 2 ** 40, 'x', null]) }],
    // A slot is only asked of a socket the task told to ask (shared/slot-pusher.ts): a forged one on a bad payload.
    () => ['grads:push', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: 0, ...bent(asyncPush, Math.floor(rand() * 9)), slot: pick(['forged-slot', 'x'.repeat(100)]) }],
    () => [`evil:${Math.floor(rand() * 1e6)}`, { ticket: valid('job-async') }],
  ];
  const control: (() => [string, unknown])[] = [
    () => ['job:delete', { ...ref('job:delete', pick(FUZZED)), chief: badChief('job:delete', 'job-async') }],
    () => ['job:create', { ...jobCreateMessage(strangerKeys, EPOCH + 1, { jobId: 'job-async', task: 0, slices: SPLIT, initial: SPLIT.map((s) => new Float32Array(sizeOf(s.shape))) }) }],
    () => ['job:create', { ...jobCreateMessage(keys, EPOCH, { jobId: 'job-new', task: 0, slices: SPLIT, initial: SPLIT.map((s) => new Float32Array(sizeOf(s.shape))) }), chief: badChief('job:create', 'job-new') }],
    () => ['round:close', { ...ref('round:close', 'job-rounds'), chief: badChief('round:close', 'job-rounds'), round: 0, members: ['w-fuzz'] }],
    () => ['step:close', { ...ref('step:close', 'job-split'), chief: badChief('step:close', 'job-split'), holds: [{ worker: 'w-fuzz', hold: pick([0, 1, 2]) }] }],
    () => ['step:drop', { ...ref('step:drop', 'job-split'), chief: badChief('step:drop', 'job-split'), holds: [{ worker: 'w-fuzz', hold: 1 }] }],
    () => ['ckpt:write', { ...ref('ckpt:write', 'job-async'), chief: badChief('ckpt:write', 'job-async'), checkpointId: pick(['c1', '../../etc/passwd', '']), keep: [] }],
    () => ['ckpt:load', { ...ref('ckpt:load', 'job-async'), chief: badChief('ckpt:load', 'job-async'), checkpointId: 'c1', sha256: '0'.repeat(64), baseStep: 0 }],
    () => ['params:snapshot', { ...ref('params:snapshot', 'job-async'), chief: badChief('params:snapshot', 'job-async') }],
    () => ['task:status', { chief: badChief('task:status', '') }],
    () => [pick(['job:delete', 'round:close', 'step:close']), pick([null, 42, 'x', [], { jobId: 'job-async' }, { chief: null, jobId: 'job-async' }])],
  ];

  let sockets = 0;
  let ws: PsWorkerClient | null = null;
  let cs: PsControlClient | null = null;
  const open = async (channel: Channel) => {
    sockets++;
    if (channel === 'worker') {
      ws?.disconnect();
      ws = await connectPsWorker(task.url);
      return ws;
    }
    cs?.disconnect();
    cs = await connectChief(task.url);
    return cs;
  };
  const send = (s: PsWorkerClient | PsControlClient, event: string, payload: unknown): Promise<FuzzOutcome> => sendFuzzed(s, event, payload, seen);

  let sent = 0;
  while (sent < MESSAGES) {
    const channel: Channel = rand() < 0.7 ? 'worker' : 'control';
    const s = channel === 'worker' ? (ws as PsWorkerClient | null)?.connected ? ws! : await open('worker') : (cs as PsControlClient | null)?.connected ? cs! : await open('control');
    // Every 10th round a flood far beyond the guard's rate, which must disconnect, not crash.
    const flood = Math.floor(sent / 100) % 10 === 9;
    const gens = channel === 'worker' ? worker : control;
    const round = Array.from({ length: flood ? 500 : 100 }, () => (flood ? (['params:pull', { jobId: 'job-async' }] as [string, unknown]) : pick(gens)()));
    const results = await Promise.all(round.map(([e, p]) => send(s, e, p)));
    results.forEach((o) => outcomes[o]++);
    sent += round.length;
    // Every 300 messages: the honest worker's next push is accepted while the attack goes on.
    if (sent % 300 < round.length) await nextHonestPush();
  }
  // A payload over the socket's message cap: the connection is dropped.
  const big = await open('worker');
  const huge = await send(big, 'grads:push', { ticket: valid('job-async'), jobId: 'job-async', baseVersion: 0, manifest: asyncPush.manifest, data: new Uint8Array(80 * 1024 * 1024) });
  outcomes[huge]++;

  // And after it: 11 accepted in all.
  while (honestAccepted <= 10) await nextHonestPush();
  honestRunning = false;
  await honestLoop;
  honest.disconnect();
  (ws as PsWorkerClient | null)?.disconnect();
  (cs as PsControlClient | null)?.disconnect();

  expect(task.child.exitCode).toBeNull();
  expect(outcomes['accepted-push']).toBe(0);
  expect(outcomes['bad-answer']).toBe(0);
  expect(outcomes.refused).toBeGreaterThan(MESSAGES / 2);
  expect(outcomes.disconnected).toBeGreaterThan(0);
  expect(huge).toBe('disconnected');
  expect(sockets).toBeGreaterThan(2);
  for (const code of [ErrorCode.UNAUTHORIZED, ErrorCode.BAD_REQUEST, ErrorCode.NON_FINITE, ErrorCode.FUTURE_VERSION, ErrorCode.TENSOR_MISMATCH, ErrorCode.BYTE_LENGTH_MISMATCH]) {
    expect(seen.get(code) ?? 0, code).toBeGreaterThan(0);
  }
  // The real chief is still admitted at its epoch (no forged epoch moved the fence), and nothing it holds moved.
  const status = await chief.emitWithAck('task:status', { chief: chiefCredential(keys, EPOCH, 'task:status') });
  expect(status).toMatchObject({ ok: true, epoch: EPOCH });
  expect(await Promise.all(FUZZED.map(snapshot))).toEqual(before);
  expect(honestAccepted).toBeGreaterThan(10);
}, 240_000);
