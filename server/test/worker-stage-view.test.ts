/**
 * The dashboard's worker rows name each stage worker's replica and stage (WorkerView.stage):
 * a real coordinator, raw worker sockets of a job in 2 stages and a real operator socket
 * reading `dashboard:init` and the ticks a manual clock steps. A worker waiting for a
 * replica shows as waiting, a paused job's workers and a data-parallel job's worker have
 * no place.
 */
import { io, type Socket } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { OPERATOR_NAMESPACE, type DashboardState, type OperatorServerToClientEvents, type WorkerView } from '../../shared/operator-protocol.js';
import type { ReplicaAssignment } from '../../shared/replica-protocol.js';
import { connectTestWorker, leave, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const TOKEN = 'worker-stage-token';
let run: Running | null = null;
let dashboard: Socket<OperatorServerToClientEvents> | null = null;
const sockets: TestWorker[] = [];

afterEach(async () => {
  dashboard?.disconnect();
  dashboard = null;
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

/** The next replica `w` is placed in. */
const nextReplica = (w: TestWorker) => new Promise<ReplicaAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a.replica)));

async function join(r: Running) {
  const w = await connectTestWorker(r.url);
  sockets.push(w);
  const placed = nextReplica(w);
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'stage view' });
  if (!hello.ok) throw new Error(hello.message);
  return { w, id: hello.workerId, placed };
}

async function connectDashboard(r: Running) {
  dashboard = io(r.url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  return (await waitForEvent<{ workers: WorkerView[] }>(dashboard, 'dashboard:init')).workers;
}

async function tick(clock: ManualClock): Promise<WorkerView[]> {
  const ticked = waitForEvent<DashboardState>(dashboard!, 'dashboard:tick');
  clock.advance(1000);
  return (await ticked).workers;
}

const stageOf = (workers: WorkerView[]) => Object.fromEntries(workers.map((w) => [w.id, w.stage]));
const place = (a: ReplicaAssignment) => ({ replicaId: a.replicaId, stage: a.stage, of: a.of });

it('names each stage worker its replica and stage, a waiting worker waiting, and no place once the job pauses', { timeout: 60_000 }, async () => {
  const clock = new ManualClock();
  run = await startCoordinator({ model: 'mlp', stages: 2 }, { clock, operatorToken: TOKEN });
  const a = await join(run);
  const b = await join(run);
  const [ra, rb] = await Promise.all([a.placed, b.placed]);
  const c = await join(run);
  expect(new Set([ra.stage, rb.stage])).toEqual(new Set([0, 1]));

  expect(stageOf(await connectDashboard(run))).toEqual({
    [a.id]: { replicaId: 'r1', stage: ra.stage, of: 2 },
    [b.id]: { replicaId: 'r1', stage: rb.stage, of: 2 },
    [c.id]: 'waiting',
  });

  // b leaves: r1 dissolves and a, back to waiting, forms r2 with c; the next tick says so.
  const [ra2, rc2] = [nextReplica(a.w), c.placed];
  await leave(run.coordinator, b.w);
  const [a2, c2] = await Promise.all([ra2, rc2]);
  expect(stageOf(await tick(clock))).toEqual({ [a.id]: place(a2), [c.id]: place(c2) });
  expect(a2.replicaId).toBe('r2');

  // Paused, the job dissolves its replicas and nobody waits: the workers have no place.
  expect(run.job.control('pause').ok).toBe(true);
  expect(stageOf(await tick(clock))).toEqual({ [a.id]: null, [c.id]: null });
});

it("a data-parallel job's worker has no stage", { timeout: 30_000 }, async () => {
  run = await startCoordinator({ model: 'mlp' }, { operatorToken: TOKEN });
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'data parallel' });
  if (!hello.ok) throw new Error(hello.message);
  const [view] = await connectDashboard(run);
  expect(view).toMatchObject({ id: hello.workerId, jobId: run.job.id, stage: null });
});
