/**
 * Delta pulls per ps task: a real coordinator keeping the mlp's parameters on two real
 * ps tasks (port 0), a socket.io worker training through a PsTransport. After sparse
 * pushes, the worker's next pull comes from each task as a delta since the version it
 * holds of that task, applied to its copy of that task's slices; the joined result is
 * bit-identical to a fresh worker's full pull and to what the chief gathers from the
 * tasks for checkpoints.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PsTransport } from '../../client/engine/ps-transport.js';
import { decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { Placement } from '../../shared/placement.js';
import { PS_WORKER_NAMESPACE, type PsServerEvents, type PsWorkerEvents } from '../../shared/ps-protocol.js';
import { checkPsRoute } from '../../shared/ps-route.js';
import type { JobAssignment, ParamsSnapshot } from '../../shared/protocol.js';
import { ok, type Result } from '../../shared/result.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectTestWorker, leaseShard, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';

const TOKEN = 'ps-delta-pull-test-cluster-token-0123456789';

let tasks: RunningPsTask[] = [];
let run: Running;
const workers: TestWorker[] = [];
const transports: PsTransport[] = [];

beforeAll(async () => {
  tasks = [await startPsTask({ token: TOKEN }), await startPsTask({ token: TOKEN })];
  // SGD moves only the entries a gradient carries, so a sparse push makes a small delta.
  run = await startCoordinator(
    { name: 'delta pulls on ps tasks', model: 'mlp', normBound: 0, optimizer: { type: 'sgd', learningRate: 0.1 } },
    { cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN } },
  );
});
afterAll(async () => {
  transports.forEach((t) => t.dispose());
  workers.forEach((w) => w.disconnect());
  await run?.close();
  await Promise.all(tasks.map((t) => t.close()));
});

/** A worker on the job with its own transport over the job's ps tasks. */
async function psWorker(): Promise<{ job: JobAssignment; transport: PsTransport; worker: TestWorker }> {
  const worker = await connectTestWorker(run.url);
  workers.push(worker);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('no job');
  const route = checkPsRoute(hello.job.ps, hello.job.tensors);
  if ('error' in route) throw new Error(route.error);
  const transport = new PsTransport({ job: hello.job, route, chief: (p) => worker.emitWithAck('grads:push', p) });
  transports.push(transport);
  return { job: hello.job, transport, worker };
}

const pulled = (job: JobAssignment, r: Result<ParamsSnapshot>) => {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return { version: r.version, values: decodeTensors(r, job.tensors) };
};
const bits = (values: Float32Array[]) => values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));

it('after sparse pushes each task answers a delta, and the joined parameters equal a full pull bit for bit', async () => {
  const { job, transport, worker } = await psWorker();
  const placement = checkPsRoute(job.ps, job.tensors);
  if ('error' in placement) throw new Error(placement.error);
  // Both tasks hold slices of the mlp: the deltas come through 2 tasks.
  expect(placement.placement.byTask.map((s) => s.length > 0)).toEqual([true, true]);
  const { leaseId } = await leaseShard(worker, job.jobId);

  let mine = pulled(job, await transport.pull({ jobId: job.jobId }));
  expect(transport.deltaPulls).toBe(0); // nothing held yet: both in full
  for (let k = 1; k <= 3; k++) {
    // A few entries of every tensor, different ones each push.
    const payload = encodeTensors(
      job.tensors.map((t) => {
        const values = new Float32Array(sizeOf(t.shape));
        for (let i = k; i < values.length; i += 97) values[i] = 0.01 * k;
        return { ...t, values };
      }),
    );
    const ack = await transport.push({ jobId: job.jobId, leaseId, baseVersion: mine.version, batches: 1, loss: 1, ...payload });
    if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
    const before = bits(mine.values);
    mine = pulled(job, await transport.pull({ jobId: job.jobId }));
    // Each of the 2 tasks answered this pull with a delta since the version this worker held of it.
    expect(transport.deltaPulls).toBe(2 * k);
    expect(bits(mine.values)).not.toEqual(before);
  }

  const fresh = await psWorker();
  const full = pulled(fresh.job, await fresh.transport.pull({ jobId: job.jobId }));
  expect(fresh.transport.deltaPulls).toBe(0);
  expect(bits(mine.values)).toEqual(bits(full.values));
  // And what the chief gathers from the tasks (evaluation, checkpoints).
  const gathered = await run.job.parameters.values();
  expect(bits(mine.values)).toEqual(bits(gathered.values));
});

it('a delta since a version the worker does not hold is TENSOR_MISMATCH, and its next pull of that task asks in full', async () => {
  const { job } = await psWorker();
  // A task that answers what it likes: in full at version 5, then a delta since version 7.
  const http = createServer();
  const io = new Server<PsWorkerEvents, PsServerEvents>(http);
  const haves: (number | undefined)[] = [];
  const specs = Placement.of(job.tensors, { tasks: 1 }).specsOf(0);
  io.of(PS_WORKER_NAMESPACE).on('connection', (socket) =>
    socket.on('params:pull', (req, ack) => {
      haves.push(req.have);
      if (haves.length === 2) {
        const tensors = specs.map((t) => ({ name: t.name, shape: t.shape, dtype: 'float32' as const, offset: 0, byteLength: 0 }));
        return ack(ok({ jobId: job.jobId, version: 9, manifest: { codec: 'delta', since: 7, tensors }, data: new Uint8Array(0) }));
      }
      ack(ok({ jobId: job.jobId, version: 5, ...encodeTensors(specs.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)) }))) }));
    }),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const route = checkPsRoute({ tasks: [{ task: 0, url, ticket: 'a-ticket' }], placement: Placement.of(job.tensors, { tasks: 1 }).toJSON() }, job.tensors);
    if ('error' in route) throw new Error(route.error);
    const transport = new PsTransport({ job, route, chief: () => Promise.reject(new Error('no push here')) });
    transports.push(transport);
    expect((await transport.pull({ jobId: job.jobId })).ok).toBe(true);
    const refused = await transport.pull({ jobId: job.jobId });
    expect(refused).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH, message: expect.stringContaining('a delta since its version 7, but this worker holds 5') });
    expect((await transport.pull({ jobId: job.jobId })).ok).toBe(true);
    expect(haves).toEqual([undefined, 5, undefined]);
  } finally {
    io.close(); // and its HTTP server
  }
});
