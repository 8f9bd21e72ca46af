/**
 * What one worker moves on the wire per push, per pull and per hour, for each codec:
 * a real coordinator on port 0 with one job of the model, one forked Node worker
 * (bench/node-worker.ts, the engine's TrafficMeter) training it for --seconds, then the
 * worker's own byte counts. Shard downloads are counted apart (the same for every codec).
 *
 * Usage: tsx bench/wire-cost.ts [--model cnn] [--codecs fp32,topk-packed] [--seconds 40]
 */
import { Command, InvalidArgumentError } from 'commander';
import { CODEC_IDS, type CodecId } from '../shared/codec.js';
import { BUILTIN_JOB_WIRE } from '../shared/job-defaults.js';
import { MODEL_PRESET_NAMES, type ModelPresetName } from '../shared/job-spec.js';
import { startCoordinator } from '../test-support/coordinator.js';
import type { NodeWorkerProgress } from './node-worker.js';
import { WorkerPool } from './worker-pool.js';

interface Row {
  codec: CodecId;
  seconds: number;
  examplesPerSecond: number;
  pushes: number;
  bytesPerPush: number;
  bytesPerPull: number;
  shardBytes: number;
  mbPerHour: number;
  mbPerHourWithoutShards: number;
}

async function measure(model: ModelPresetName, codec: CodecId, seconds: number): Promise<Row> {
  const topkRatio = codec === BUILTIN_JOB_WIRE.codec ? BUILTIN_JOB_WIRE.topkRatio : undefined;
  const run = await startCoordinator({ model, codec, topkRatio, epochs: 100, shardSize: 1000 });
  const pool = new WorkerPool(run.url, 'ignore');
  try {
    const w = await pool.start();
    const started = performance.now();
    const last = await new Promise<NodeWorkerProgress>((resolve) => {
      w.child.on('message', (m: { type: string; progress?: NodeWorkerProgress }) => {
        if (m.type === 'progress' && m.progress && performance.now() - started >= seconds * 1000) resolve(m.progress);
      });
    });
    const elapsed = (performance.now() - started) / 1000;
    const featureBytes = 784 + 1;
    const shardBytes = last.shardsCompleted * 1000 * featureBytes; // a lower bound: the shard in training is not counted
    const batches = last.pushesAccepted + last.pushesRejected; // nPush = nFetch = 1: a pull per push
    const perHour = (bytes: number) => (bytes / elapsed) * 3600 / 1e6;
    return {
      codec,
      seconds: elapsed,
      examplesPerSecond: last.examplesContributed / elapsed,
      pushes: batches,
      bytesPerPush: last.bytesSent / batches,
      bytesPerPull: Math.max(0, last.bytesReceived - shardBytes) / batches,
      shardBytes,
      mbPerHour: perHour(last.bytesSent + last.bytesReceived),
      mbPerHourWithoutShards: perHour(last.bytesSent + last.bytesReceived - shardBytes),
    };
  } finally {
    await pool.close();
    await run.close();
  }
}

const program = new Command('wire-cost')
  .option('--model <preset>', 'model preset', 'cnn')
  .option('--codecs <list>', 'comma-separated codecs', (v: string) => {
    const list = v.split(',');
    for (const c of list) if (!(CODEC_IDS as readonly string[]).includes(c)) throw new InvalidArgumentError(`unknown codec ${c}`);
    return list as CodecId[];
  }, ['fp32', 'topk-packed'] as CodecId[])
  .option('--seconds <n>', 'training time per codec', (v: string) => {
    const n = Number(v);
    if (!(n >= 5 && n <= 600)) throw new InvalidArgumentError('5 to 600');
    return n;
  }, 40)
  .action(async (o: { model: string; codecs: CodecId[]; seconds: number }) => {
    if (!(MODEL_PRESET_NAMES as readonly string[]).includes(o.model)) throw new InvalidArgumentError(`unknown model ${o.model}`);
    for (const codec of o.codecs) {
      const r = await measure(o.model as ModelPresetName, codec, o.seconds);
      process.stdout.write(
        `${o.model} ${r.codec}: ${r.examplesPerSecond.toFixed(0)} examples/s, ${r.pushes} pushes in ${r.seconds.toFixed(0)} s; ` +
          `${(r.bytesPerPush / 1000).toFixed(1)} kB sent per push, ${(r.bytesPerPull / 1000).toFixed(1)} kB received per pull; ` +
          `${r.mbPerHour.toFixed(0)} MB/hour both ways (${r.mbPerHourWithoutShards.toFixed(0)} without shard downloads)\n`,
      );
    }
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
