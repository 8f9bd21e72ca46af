/**
 * One process of simulated workers for `bench -- load`: opens its share of sockets,
 * says hello and leases a shard on each, then pushes real-sized fp32 gradients (one
 * batch of the socket's lease each; a spent lease is completed and another leased
 * first) at its share of the total rate, round-robin over its sockets, and reports ack
 * latencies to the parent over IPC.
 */
import { io, type Socket } from 'socket.io-client';
import { encodeTensors } from '../shared/codec.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type ServerToClientEvents, type ShardLeaseGrant } from '../shared/protocol.js';
import { sizeOf } from '../shared/tensors.js';

type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface LoadClientReport {
  latenciesMs: number[];
  sent: number;
  accepted: number;
  rejected: number;
  lostAcks: number;
  connectFailures: number;
}

const [url, workersArg, rateArg, secondsArg] = process.argv.slice(2);
const workers = Number(workersArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);

interface LoadWorker {
  socket: WorkerSocket;
  job: JobAssignment;
  lease: ShardLeaseGrant | null;
  /** Batches of the lease not pushed yet. */
  left: number;
}

/** Completes the socket's spent lease (if any) and leases the next; false when none is free. */
async function releaseAndLease(w: LoadWorker): Promise<boolean> {
  if (w.lease) await w.socket.timeout(30_000).emitWithAck('shard:complete', { jobId: w.job.jobId, leaseId: w.lease.leaseId });
  const r = await w.socket.timeout(30_000).emitWithAck('shard:lease', { jobId: w.job.jobId });
  w.lease = r.ok ? r.lease : null;
  w.left = w.lease ? w.lease.batches.to - w.lease.batches.from : 0;
  return w.left > 0;
}

async function connect(): Promise<LoadWorker | null> {
  const socket: WorkerSocket = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const hello = await socket.timeout(30_000).emitWithAck('worker:hello', { userAgent: 'bench-load' });
    if (!hello.ok || !hello.job) throw new Error('no job');
    const w: LoadWorker = { socket, job: hello.job, lease: null, left: 0 };
    if (!(await releaseAndLease(w))) throw new Error('no lease');
    return w;
  } catch {
    socket.close();
    return null;
  }
}

async function main(): Promise<void> {
  const report: LoadClientReport = { latenciesMs: [], sent: 0, accepted: 0, rejected: 0, lostAcks: 0, connectFailures: 0 };
  const sockets: LoadWorker[] = [];
  for (let i = 0; i < workers; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, workers - i) }, connect));
    for (const b of batch) if (b) sockets.push(b);
    else report.connectFailures++;
  }
  process.send!({ type: 'connected', count: sockets.length });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // the parent's "go"
  if (!sockets.length) {
    process.send!({ type: 'report', report });
    return;
  }
  const job = sockets[0]!.job;
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-4) })));
  let version = 0;
  const pending = new Set<Promise<void>>();
  const interval = 1000 / rate;
  const started = performance.now();
  let next = started;
  let turn = 0;
  while (performance.now() - started < seconds * 1000) {
    const w = sockets[turn++ % sockets.length]!;
    if (w.left === 0 && !(await releaseAndLease(w))) continue;
    w.left -= 1;
    const t0 = performance.now();
    report.sent++;
    const p = w.socket
      .timeout(10_000)
      .emitWithAck('grads:push', { jobId: job.jobId, leaseId: w.lease!.leaseId, baseVersion: version, batches: 1, loss: 1, ...payload })
      .then(
        (r) => {
          report.latenciesMs.push(performance.now() - t0);
          if (r.ok) {
            report.accepted++;
            version = Math.max(version, r.version);
          } else {
            report.rejected++;
            if (r.code === 'LEASE_LOST' || r.code === 'UNKNOWN_LEASE') w.left = 0;
          }
        },
        () => void report.lostAcks++,
      )
      .finally(() => pending.delete(p));
    pending.add(p);
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  for (const { socket } of sockets) socket.close();
  process.send!({ type: 'report', report });
}

main().catch((err: unknown) => {
  process.stderr.write(`load client failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
