/**
 * load: many simulated workers (Node socket.io clients in a few child processes) push
 * real-sized fp32 gradients of the `mlp` (101,770 parameters, ~407 kB) to one
 * coordinator at a steady total rate. Measures ack latency, refusals, lost acks and the
 * coordinator's memory. The full PS path runs for every push: validation, decode,
 * norm, Adagrad apply.
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
}

const log = (msg: string) => process.stderr.write(`[load] ${msg}\n`);
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
const rssMb = () => Math.round(process.memoryUsage().rss / 1e6);

async function run(o: Options): Promise<void> {
  setLogLevel('error');
  const coordinator = createCoordinator({ workerGuard: { messagesPerSecond: 1000, burst: 2000 } });
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
    return fork(clientFile, [url.replace(/\/$/, ''), String(share), String(o.rate / procs), String(o.seconds)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  });
  const connected = await Promise.all(
    children.map((c) => new Promise<number>((resolve) => c.on('message', (m: { type: string; count?: number }) => m.type === 'connected' && resolve(m.count!)))),
  );
  const workers = connected.reduce((a, b) => a + b, 0);
  log(`${workers} workers connected over ${procs} processes; pushing ${o.rate}/s for ${o.seconds} s`);
  const rssStart = rssMb();
  const versionStart = created.job.store.version;
  const started = Date.now();
  const reports = await Promise.all(
    children.map((c) => {
      const r = new Promise<LoadClientReport>((resolve) => c.on('message', (m: { type: string; report?: LoadClientReport }) => m.type === 'report' && resolve(m.report!)));
      c.send('go');
      return r;
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  const rssEnd = rssMb();
  const latencies = reports.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const sum = (k: keyof Omit<LoadClientReport, 'latenciesMs'>) => reports.reduce((n, r) => n + r[k], 0);
  const accepted = sum('accepted');
  process.stdout.write(
    JSON.stringify({
      bench: 'load',
      workers,
      seconds: Math.round(elapsed),
      target_rate: o.rate,
      pushes_per_s: Math.round((accepted / elapsed) * 10) / 10,
      p50_ms: Math.round(percentile(latencies, 0.5) * 10) / 10,
      p99_ms: Math.round(percentile(latencies, 0.99) * 10) / 10,
      sent: sum('sent'),
      accepted,
      rejected: sum('rejected'),
      lost_acks: sum('lostAcks'),
      connect_failures: sum('connectFailures'),
      versions: created.job.store.version - versionStart,
      rss_start_mb: rssStart,
      rss_end_mb: rssEnd,
    }) + '\n',
  );
  await coordinator.close();
}

export function loadCommand(): Command {
  return new Command('load')
    .description('simulated workers pushing mlp-sized fp32 gradients to one coordinator')
    .option('--workers <n>', 'simulated workers (sockets)', integer(1, 100_000), 1000)
    .option('--rate <pushes/s>', 'total pushes per second', number(0.1, 100_000), 100)
    .option('--seconds <s>', 'duration of the push phase', number(1, 86_400), 120)
    .option('--procs <n>', 'client processes', integer(1, 64), 4)
    .action((o: Options) => run(o));
}
