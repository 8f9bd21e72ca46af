/**
 * What one worker moves on the wire per push, per pull and per hour, for each codec:
 * a real coordinator on port 0 with one job of the model, one forked Node worker
 * (bench/node-worker.ts, the engine's TrafficMeter) training it for --seconds, then the
 * worker's own byte counts. Shard downloads are counted apart (the same for every codec).
 *
 * `npm run bench -- wire-cost [--model cnn] [--codecs fp32,topk-packed] [--seconds 40]`:
 * a line per codec on stderr, one JSON line last.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { integer } from '../server/cli-args.js';
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

export function wireCostCommand(): Command {
  return new Command('wire-cost')
    .description('bytes one worker moves per push, per pull and per hour, for each codec')
    .addOption(new Option('--model <preset>', 'model preset').choices(MODEL_PRESET_NAMES).default('cnn'))
    .option('--codecs <list>', 'comma-separated codecs', (v: string) => {
      const list = v.split(',');
      for (const c of list) if (!(CODEC_IDS as readonly string[]).includes(c)) throw new InvalidArgumentError(`unknown codec ${c}`);
      return list as CodecId[];
    }, ['fp32', 'topk-packed'] as CodecId[])
    .option('--seconds <n>', 'training time per codec', integer(5, 600), 40)
    .action(async (o: { model: ModelPresetName; codecs: CodecId[]; seconds: number }) => {
      const results = [];
      for (const codec of o.codecs) {
        const r = await measure(o.model, codec, o.seconds);
        results.push(r);
        process.stderr.write(
          `[wire-cost] ${o.model} ${r.codec}: ${r.examplesPerSecond.toFixed(0)} examples/s, ${r.pushes} pushes in ${r.seconds.toFixed(0)} s; ` +
            `${(r.bytesPerPush / 1000).toFixed(1)} kB sent per push, ${(r.bytesPerPull / 1000).toFixed(1)} kB received per pull; ` +
            `${r.mbPerHour.toFixed(0)} MB/hour both ways (${r.mbPerHourWithoutShards.toFixed(0)} without shard downloads)\n`,
        );
      }
      process.stdout.write(`${JSON.stringify({ bench: 'wire-cost', model: o.model, seconds: o.seconds, results })}\n`);
    });
}
