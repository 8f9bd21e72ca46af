/**
 * load: many simulated workers (Node socket.io clients in a few child processes) push
 * real-sized fp32 gradients of the `mlp` (101,770 parameters, ~407 kB) to one
 * coordinator at a steady total rate. Measures ack latency, refusals, lost acks and the
 * coordinator's memory. The full PS path runs for every push: validation, decode,
 * norm, Adagrad apply. A second case runs past --rate (2× by default): there the
 * coordinator asks for push slots and answers BUSY before payloads are sent
 * (server/params/push-slots.ts) and the workers back off; `busy`, `slot_asks` and
 * `answered_within_1s` say how it held (docs/reliability.md, "Overload").
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { integer, number } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import type { LoadClientReport } from './load-client.js';

interface Options {
  workers: number;
  rate: number;
  seconds: number;
  procs: number;
  /** A second case at this multiple of --rate (0: none). */
  pastCapacity: number;
  /** The coordinator's loop-delay bound (PushAdmissionOptions.maxLoopDelayMs); Infinity turns BUSY off. */
  maxLoopDelayMs?: number;
  /** false: push slots never required (`--no-slots`). */
  slots: boolean;
  /** PushSlotOptions.window (the least window). */
  slotWindow?: number;
  /** PushSlotOptions.maxWindow. */
  slotMaxWindow?: number;
  /** PushSlotOptions.maxRetryAfterMs. */
  slotMaxRetryMs?: number;
  /** PushSlotOptions.queueMs. */
  slotQueueMs?: number;
  /** PushSlotOptions.lateMs. */
  slotLateMs?: number;
}

const log = (msg: string) => process.stderr.write(`[load] ${msg}\n`);
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
const rssMb = () => Math.round(process.memoryUsage().rss / 1e6);
const round1 = (x: number) => Math.round(x * 10) / 10;

/** One case: a fresh coordinator, `o.workers` sockets pushing `rate` pushes/s in total for `o.seconds`. */
async function runCase(o: Options, rate: number): Promise<Record<string, number | null>> {
  const slots = o.slots ? { window: o.slotWindow, maxWindow: o.slotMaxWindow, queueMs: o.slotQueueMs, maxRetryAfterMs: o.slotMaxRetryMs, lateMs: o.slotLateMs } : { window: Number.MAX_SAFE_INTEGER, lateMs: Number.POSITIVE_INFINITY };
  // Every simulated worker comes from this one host: no per-address cap (server/http/connection-cap.ts).
  const coordinator = createCoordinator({ connectionsPerAddress: 0, workerGuard: { messagesPerSecond: 1000, burst: 2000 }, admission: { maxLoopDelayMs: o.maxLoopDelayMs }, slots });
  // Staleness is not what this measures: every push takes the full apply path. Pushes carry one
  // example each: 938 shards of 64 one-example batches an epoch, a lease of 64 pushes per socket.
  const created = await coordinator.createJob({
    name: 'load', model: 'mlp', maxStaleness: 1_000_000, normBound: 0, evalIntervalSeconds: 3600, batchSize: 1, shardSize: 64, leaseSeconds: 3600,
  });
  if (!created.ok) throw new Error(created.message);
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const clientFile = fileURLToPath(new URL('./load-client.ts', import.meta.url));
  const procs = Math.max(1, Math.min(o.procs, o.workers));
  const children = Array.from({ length: procs }, (_, i) => {
    const share = Math.floor(o.workers / procs) + (i < o.workers % procs ? 1 : 0);
    return fork(clientFile, [url.replace(/\/$/, ''), String(share), String(rate / procs), String(o.seconds), o.slots ? 'slots' : 'no-slots'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  });
  const connected = await Promise.all(
    children.map((c) => new Promise<number>((resolve) => c.on('message', (m: { type: string; count?: number }) => m.type === 'connected' && resolve(m.count!)))),
  );
  const workers = connected.reduce((a, b) => a + b, 0);
  log(`${workers} workers connected over ${procs} processes; pushing ${rate}/s for ${o.seconds} s`);
  const rssStart = rssMb();
  const versionStart = created.job.version;
  const started = Date.now();
  // The window through the case (it follows the service rate: server/params/push-slots.ts).
  let windowMax = 0;
  const sampler = setInterval(() => (windowMax = Math.max(windowMax, coordinator.slots.counts().window)), 500);
  const reports = await Promise.all(
    children.map((c) => {
      const r = new Promise<LoadClientReport>((resolve) => c.on('message', (m: { type: string; report?: LoadClientReport }) => m.type === 'report' && resolve(m.report!)));
      c.send('go');
      return r;
    }),
  );
  clearInterval(sampler);
  const elapsed = (Date.now() - started) / 1000;
  const rssEnd = rssMb();
  const slotCounts = coordinator.slots.counts();
  const latencies = reports.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const pushLatencies = reports.flatMap((r) => r.pushLatenciesMs).sort((a, b) => a - b);
  const sum = (k: keyof Omit<LoadClientReport, 'latenciesMs' | 'pushLatenciesMs'>) => reports.reduce((n, r) => n + r[k], 0);
  const accepted = sum('accepted');
  const sent = sum('sent');
  const busy = sum('busy');
  const result = {
    workers,
    seconds: o.seconds,
    // With the drain: pushes still in back-off when the phase ended are sent until answered.
    seconds_with_drain: Math.round(elapsed),
    target_rate: rate,
    // Accepted per second of the push phase (answers after it, the drain's, are not counted).
    pushes_per_s: round1(sum('acceptedInPhase') / o.seconds),
    p50_ms: round1(percentile(latencies, 0.5)),
    p99_ms: round1(percentile(latencies, 0.99)),
    // Payloads' answers alone (p50_ms/p99_ms count slots' too).
    push_p50_ms: round1(percentile(pushLatencies, 0.5)),
    push_p99_ms: round1(percentile(pushLatencies, 0.99)),
    push_max_ms: round1(pushLatencies.at(-1) ?? NaN),
    sent,
    slot_asks: sum('slotAsks'),
    slot_busy: sum('slotBusy'),
    accepted,
    rejected: sum('rejected'),
    lost_acks: sum('lostAcks'),
    connect_failures: sum('connectFailures'),
    versions: created.job.version - versionStart,
    rss_start_mb: rssStart,
    rss_end_mb: rssEnd,
    busy,
    busy_per_s: round1(busy / elapsed),
    // Every push gets an answer (accepted, refused or BUSY) within 1 s: the target is 1.
    answered_within_1s: sent ? Math.round((sum('answeredWithin1s') / (sent + sum('slotAsks'))) * 10_000) / 10_000 : 1,
    late_pushes: sum('late'),
    busy_server: coordinator.admission.counts().busy,
    slots_granted: slotCounts.granted,
    slots_expired: slotCounts.expired,
    slot_window_max: o.slots ? windowMax : null,
    // The least grant → payload time (the window's pipe term).
    slot_pipe_ms: slotCounts.pipeMs,
    pushes_without_slot_refused: slotCounts.ungranted,
  };
  await coordinator.close();
  return result;
}

async function run(o: Options): Promise<void> {
  setLogLevel('error');
  const atRate = await runCase(o, o.rate);
  log(JSON.stringify({ case: 'rate', ...atRate }));
  const out: Record<string, unknown> = { bench: 'load', ...atRate };
  if (o.pastCapacity > 0) {
    const past = await runCase(o, o.rate * o.pastCapacity);
    log(JSON.stringify({ case: 'past-capacity', ...past }));
    // Accepted there as a share of what --rate (the capacity, when it is set there) accepted.
    out.past_capacity = { factor: o.pastCapacity, ...past, accepted_vs_rate: atRate.pushes_per_s ? Math.round((past.pushes_per_s! / atRate.pushes_per_s) * 1000) / 1000 : null };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

export function loadCommand(): Command {
  return new Command('load')
    .description('simulated workers pushing mlp-sized fp32 gradients to one coordinator, at --rate and then past it')
    .option('--workers <n>', 'simulated workers (sockets)', integer(1, 100_000), 1000)
    .option('--rate <pushes/s>', 'total pushes per second: each socket pushes once per workers/rate seconds (set it at the capacity to test the past-capacity case against it)', number(0.1, 100_000), 100)
    .option('--seconds <s>', 'duration of each case\'s push phase', number(1, 86_400), 120)
    .option('--procs <n>', 'client processes', integer(1, 64), 4)
    .option('--past-capacity <factor>', 'then a case at this multiple of --rate (0: none)', number(0, 100), 2)
    .option('--no-slots', 'push slots never required (workers push their payloads directly, as before push slots)')
    .option('--slot-window <n>', 'the least window of grants on their way in (PushSlotOptions.window; default the coordinator\'s)', integer(1, 100_000))
    .option('--slot-max-window <n>', 'the largest window (PushSlotOptions.maxWindow; equal to --slot-window: a fixed window)', integer(1, 100_000))
    .option('--slot-max-retry-ms <ms>', 'the longest hint of a refused slot (PushSlotOptions.maxRetryAfterMs)', number(0, 60_000))
    .option('--slot-queue-ms <ms>', 'the window is the service rate × (the pipe + this) (PushSlotOptions.queueMs)', number(1, 60_000))
    .option('--slot-late-ms <ms>', 'slots are required while the loop runs this late (PushSlotOptions.lateMs; default the coordinator\'s)', number(0, 60_000))
    .option('--max-loop-delay-ms <ms>', "the coordinator's loop-delay bound (default: the coordinator's, off; e.g. 100 to try it; 'off': none)", (v) => (v === 'off' ? Number.POSITIVE_INFINITY : number(0, 60_000)(v)))
    .action((o: Options) => run(o));
}
