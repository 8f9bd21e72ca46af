/**
 * One process of simulated workers for `bench -- load`: opens its share of sockets,
 * says hello and leases a shard on each, then pushes real-sized fp32 gradients (one
 * batch of the socket's lease each; a spent lease is completed and another leased
 * first) at its share of the total rate, round-robin over its sockets, and reports ack
 * latencies to the parent over IPC.
 *
 * Each socket behaves as a worker does (a closed loop): it pushes once per period
 * (sockets ÷ rate: the time a worker takes to compute its next gradient), never with
 * a push in flight, so the total is the rate as long as answers come within a period.
 * Each socket speaks push slots as workers do (shared/slot-pusher.ts): while the
 * coordinator's answers say so it asks `grads:slot` before sending a payload; a slot or
 * push answered BUSY is asked or sent again (the same batch of the same lease) after the
 * workers' back-off (shared/busy-backoff.ts), and the next push a period after that.
 * Every request's answer is timed, a slot's as a push's.
 */
import { io, type Socket } from 'socket.io-client';
import { encodeTensors } from '../shared/codec.js';
import { SlotPusher } from '../shared/slot-pusher.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type ServerToClientEvents, type ShardLeaseGrant } from '../shared/protocol.js';
import { sizeOf } from '../shared/tensors.js';

type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface LoadClientReport {
  /** Every answer's time, slots' and pushes'. */
  latenciesMs: number[];
  /** Pushes' (payloads') answers only. */
  pushLatenciesMs: number[];
  /** Payloads sent. */
  sent: number;
  /** `grads:slot` requests sent. */
  slotAsks: number;
  /** Of which answered BUSY. */
  slotBusy: number;
  accepted: number;
  /** Of which answered before the push phase ended (the rate counts these: retries after it are the drain). */
  acceptedInPhase: number;
  rejected: number;
  lostAcks: number;
  connectFailures: number;
  /** Answers BUSY, slots' and pushes' (each also counted in latenciesMs, not in rejected). */
  busy: number;
  /** Answers of any kind that came within 1 s of their request. */
  answeredWithin1s: number;
  /** Pushes sent late because the previous one's answer came after the socket's period. */
  late: number;
}

/** How long a worker waits for an answer before it counts the push as lost. */
const ACK_TIMEOUT_MS = 10_000;

const [url, workersArg, rateArg, secondsArg, slotsArg] = process.argv.slice(2);
/** Without slots (`--no-slots`) the workers push as before slots were: no ask before the first push either. */
const askFirst = slotsArg !== 'no-slots';
const workers = Number(workersArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);

interface LoadWorker {
  socket: WorkerSocket;
  job: JobAssignment;
  lease: ShardLeaseGrant | null;
  /** Batches of the lease not pushed yet. */
  left: number;
  /** A push of this socket is waiting for its answer. */
  pushing: boolean;
  /** performance.now() at which this socket pushes next (its period, or its back-off after BUSY). */
  nextAt: number;
  pusher: SlotPusher;
}

/** A request whose answer did not come within ACK_TIMEOUT_MS. */
class LostAck extends Error {}

/** Completes the socket's spent lease (if any) and leases the next; false when none is free. */
async function releaseAndLease(w: LoadWorker): Promise<boolean> {
  if (w.lease) await w.socket.timeout(30_000).emitWithAck('shard:complete', { jobId: w.job.jobId, leaseId: w.lease.leaseId });
  const r = await w.socket.timeout(30_000).emitWithAck('shard:lease', { jobId: w.job.jobId });
  w.lease = r.ok ? r.lease : null;
  w.left = w.lease ? w.lease.batches.to - w.lease.batches.from : 0;
  return w.left > 0;
}

const report: LoadClientReport = { latenciesMs: [], pushLatenciesMs: [], sent: 0, slotAsks: 0, slotBusy: 0, accepted: 0, acceptedInPhase: 0, rejected: 0, lostAcks: 0, connectFailures: 0, busy: 0, answeredWithin1s: 0, late: 0 };

function countBusy(what: 'slot' | 'push'): void {
  report.busy++;
  if (what === 'slot') report.slotBusy++;
}

/** Sends one request and times its answer; a lost answer throws LostAck. */
async function timed<R>(kind: 'slot' | 'push', request: () => Promise<R>): Promise<R> {
  if (kind === 'push') report.sent++;
  else report.slotAsks++;
  const t0 = performance.now();
  const r = await request().catch(() => null);
  const ms = performance.now() - t0;
  if (r === null) {
    report.lostAcks++;
    throw new LostAck();
  }
  report.latenciesMs.push(ms);
  if (kind === 'push') report.pushLatenciesMs.push(ms);
  if (ms <= 1000) report.answeredWithin1s++;
  return r;
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
    const w: LoadWorker = { socket, job: hello.job, lease: null, left: 0, pushing: false, nextAt: 0, pusher: new SlotPusher({ askFirst, onBusy: (_ms, what) => countBusy(what) }) };
    if (!(await releaseAndLease(w))) throw new Error('no lease');
    return w;
  } catch {
    socket.close();
    return null;
  }
}

async function main(): Promise<void> {
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
  const period = (1000 * sockets.length) / rate;
  const started = performance.now();
  // Spread over one period, as workers that started at different times are.
  sockets.forEach((w, i) => (w.nextAt = started + (period * i) / sockets.length));
  const send = async (w: LoadWorker, t0: number) => {
    if (w.left === 0 && !(await releaseAndLease(w))) {
      w.nextAt = performance.now() + period;
      return;
    }
    w.left -= 1;
    const push = { jobId: job.jobId, leaseId: w.lease!.leaseId, baseVersion: version, batches: 1, loss: 1, ...payload };
    // BUSY (slot or push) is waited out inside: the batch was not taken, the same one goes again.
    const r = await w.pusher
      .push(push, {
        ask: (req) => timed('slot', () => w.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('grads:slot', req)),
        send: (p) => timed('push', () => w.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('grads:push', p)),
      })
      .catch((err: unknown) => {
        if (err instanceof LostAck) return null;
        throw err;
      });
    const now = performance.now();
    if (!r) {
      w.nextAt = t0 + period;
      return;
    }
    if (r.ok) {
      report.accepted++;
      if (now - started < seconds * 1000) report.acceptedInPhase++;
      version = Math.max(version, r.version);
    } else {
      report.rejected++;
      if (r.code === 'LEASE_LOST' || r.code === 'UNKNOWN_LEASE') w.left = 0;
    }
    if (t0 + period < now) report.late++;
    w.nextAt = Math.max(t0 + period, now);
  };
  while (performance.now() - started < seconds * 1000) {
    const now = performance.now();
    let soonest = Infinity;
    for (const w of sockets) {
      if (w.pushing) continue;
      if (w.nextAt > now) {
        soonest = Math.min(soonest, w.nextAt);
        continue;
      }
      w.pushing = true;
      const p = send(w, now).finally(() => {
        w.pushing = false;
        pending.delete(p);
      });
      pending.add(p);
    }
    const wait = Math.min(soonest - performance.now(), 5);
    await new Promise((r) => setTimeout(r, Math.max(1, wait)));
  }
  await Promise.all(pending);
  for (const { socket } of sockets) socket.close();
  process.send!({ type: 'report', report });
}

main().catch((err: unknown) => {
  process.stderr.write(`load client failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
