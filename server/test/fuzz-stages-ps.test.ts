/**
 * Hostile stages of a split job on 2 ps task processes: both stages of a live replica
 * hold their parts on the tasks as the engine does (StagePsTransport), then tamper with
 * the notice each sends the chief: receipts replayed from an earlier step, taken from the
 * other stage, forged, for another version or task, missing or doubled; a refusal
 * claimed with good receipts; a last stage's bad loss; a batch claim not stage 0's; a step
 * out of order, or a part the schema refuses followed by one it takes. Every step is refused with a code for both stages, nothing is applied on
 * either task (the chief's gathered parameters bit-identical, version 0), and an honest
 * replica of two Node stage workers on another job on the same tasks keeps training.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStageWorker, type StageWorker } from '../../bench/stage-worker.js';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { GradientPush, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { bits } from '../../test-support/ps-fixture.js';
import { StageReplicas, type Stage } from '../../test-support/stage-replica.js';
import { settledAfterRoundTrips, startCoordinator, type Running } from '../../test-support/index.js';
import type { Job } from '../jobs/job.js';

const STEPS = 90;
let run: Running;

beforeAll(async () => {
  await tf.setBackend('cpu');
  run = await startCoordinator({ model: 'mlp', stages: 2, name: 'honest', batchSize: 32, microbatches: 2 }, { workerGuard: { messagesPerSecond: 20_000, burst: 3000, maxStrikes: 400 } }, { ps: 2 });
}, 120_000);
afterAll(async () => run?.close());

type Receipts = NonNullable<GradientPush['psReceipts']>;

it(`${STEPS} tampered replica steps on ps tasks are refused with codes, nothing applied on either task, an honest replica training`, async () => {
  let honestAccepted = 0;
  const honest: StageWorker[] = [];
  for (let i = 0; i < 2; i++) honest.push(await startStageWorker(run.url, { pushed: (r, stage) => stage === 0 && r.ok && honestAccepted++ }));
  const created = await run.coordinator.createJob({ model: 'mlp', stages: 2, name: 'fuzzed', priority: 10, normBound: 0, directionThreshold: null, evalIntervalSeconds: 3600, trustedRefreshSeconds: 3600 }, { start: false });
  if (!created.ok) throw new Error(created.message);
  const target: Job = created.job;
  target.control('start');
  const digests = async () => (await target.parameters.values()).values.map(bits);
  const before = await digests();

  const rand = seededRandom(99);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const codes = new Set<string>(ALL_ERROR_CODES);
  const seen = new Map<string, number>();
  let accepted = 0;
  let badAnswers = 0;
  let replicas = 0;
  /** Receipts each stage showed the chief, by worker: what a replay takes. */
  const shown = new Map<string, Receipts[]>();

  const tampers: ((p: GradientPush, self: Stage, other: Stage) => void)[] = [
    (p, self) => (p.psReceipts = pick(shown.get(self.workerId) ?? [[]])),
    (p, _self, other) => (p.psReceipts = pick(shown.get(other.workerId) ?? [[]])),
    (p) => (p.psReceipts = p.psReceipts!.map((r, i) => (i === 0 ? { ...r, receipt: pick(['x', 'A'.repeat(43), r.receipt.split('').reverse().join('')]) } : r))),
    (p) => (p.psReceipts = p.psReceipts!.map((r) => ({ ...r, version: r.version + pick([1, -1, 1000]) }))),
    (p) => (p.psReceipts = p.psReceipts!.slice(1)),
    (p) => (p.psReceipts = [...p.psReceipts!, ...p.psReceipts!]),
    (p) => (p.psReceipts = p.psReceipts!.map((r) => ({ ...r, task: pick([1 - r.task, 5, 63]) }))),
    (p) => (p.psRefused = pick(['STALE', 'NON_FINITE', 'X'])),
    (p) => (p.batches = pick([2, 7])),
    (p) => (p.replicaStep = p.replicaStep! + pick([1, 2, 1000])),
    (p, self) => (p.leaseId = self.job.replica!.stage === 0 ? 'L999999' : p.jobId),
  ];

  let stages = new StageReplicas(run.url);
  let r = await stages.replica();
  replicas++;
  let step = 0;
  const answered = (x: Result<PushAccepted>) => {
    if (x.ok) accepted++;
    else if (codes.has(x.code)) seen.set(x.code, (seen.get(x.code) ?? 0) + 1);
    else badAnswers++;
  };
  for (let i = 0; i < STEPS; i++) {
    const live = target.replicas!.get(r.a.job.replica!.replicaId) && r.a.w.connected && r.b.w.connected;
    if (!live) {
      stages.close();
      stages = new StageReplicas(run.url);
      r = await stages.replica();
      replicas++;
      step = 0;
    }
    const { a, b, push } = r;
    const [victim, other] = rand() < 0.5 ? [a, b] : [b, a];
    const tamper = rand() < 0.9 ? pick(tampers) : null;
    for (const s of [a, b]) {
      s.beforeNotice = (p) => {
        if (s === victim && tamper) tamper(p, victim, other);
        else shown.set(s.workerId, [...(shown.get(s.workerId) ?? []).slice(-4), p.psReceipts ?? []]);
      };
    }
    // Without a tamper, the last stage's loss is what is wrong.
    const loss = tamper ? 2.3 : pick([null, -1, 17]);
    const pa = a.tasks.push(push(a, step, 1e-3));
    const pb = b.tasks.push(push(b, step, 1e-3, loss));
    // A part refused before the chief held it (a receipt version below 0 fails the schema) leaves the other
    // held: the attacker follows it with a part the schema takes and the step refuses, as it would.
    const first = await Promise.race([pa.then(() => a), pb.then(() => b)]);
    const rest = first === a ? pb : pa;
    const answers = [await (first === a ? pa : pb)];
    if (!(await settledAfterRoundTrips(rest, a.w, b.w))) {
      first.beforeNotice = (p) => (p.batches = 7);
      answers.push(await first.tasks.push(push(first, step, 1e-3)));
    }
    answers.push(await rest);
    answers.forEach(answered);
    step++;
  }
  stages.close();
  const honestBefore = honestAccepted;
  await expect.poll(() => honestAccepted, { timeout: 60_000 }).toBeGreaterThan(honestBefore + 2);
  honest.forEach((h) => h.close());

  expect(accepted).toBe(0);
  expect(badAnswers).toBe(0);
  expect(replicas).toBeGreaterThan(1);
  for (const code of [ErrorCode.BAD_RECEIPT, ErrorCode.LOSS_OUT_OF_RANGE, ErrorCode.BATCH_CLAIM, ErrorCode.STEP_OUT_OF_ORDER]) expect(seen.get(code) ?? 0, code).toBeGreaterThan(0);
  expect(target.version).toBe(0);
  expect(await digests()).toEqual(before);
  expect((await (await fetch(run.url + '/api/health')).json()).ok).toBe(true);
}, 240_000);
