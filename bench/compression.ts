/**
 * compression: MNIST `mlp` and `cnn` trained for the same epochs with each gradient
 * codec; bytes per push, their ratio to fp32, final test accuracy and its change
 * against the fp32 run of the same model. Node workers (bench/node-worker.ts) on
 * tfjs-wasm do the training, as browsers would. A sparse codec is written
 * `topk:RATIO` or `topk-packed:RATIO` to set its ratio (alone: the default 0.01).
 */
import { Command, InvalidArgumentError } from 'commander';
import { integer } from '../server/cli-args.js';
import { setLogLevel } from '../server/logger.js';
import { CODEC_IDS, createCodec, DEFAULT_TOPK_RATIO, type CodecId } from '../shared/codec.js';
import { MODEL_PRESET_NAMES, type ModelPresetName } from '../shared/job-spec.js';
import { trainToEnd } from './train-run.js';

interface Variant {
  codec: CodecId;
  topkRatio: number;
}

interface Options {
  models: ModelPresetName[];
  codecs: Variant[];
  epochs: number;
  workers: number;
  seed: number;
}

const log = (msg: string) => process.stderr.write(`[compression] ${msg}\n`);
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

function parseVariant(text: string): Variant {
  const [codec, ratio, ...rest] = text.split(':');
  if (rest.length || !(CODEC_IDS as readonly string[]).includes(codec!)) {
    throw new InvalidArgumentError(`"${text}": expected ${CODEC_IDS.join(', ')}, or a sparse one with :RATIO`);
  }
  const id = codec as CodecId;
  if (ratio === undefined) return { codec: id, topkRatio: DEFAULT_TOPK_RATIO };
  const r = Number(ratio);
  if (!createCodec(id).sparse || !(r > 0 && r <= 1)) throw new InvalidArgumentError(`"${text}": only topk and topk-packed take a ratio, in (0, 1]`);
  return { codec: id, topkRatio: r };
}

const list = <T>(parse: (s: string) => T) => (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean).map(parse);
const modelName = (s: string): ModelPresetName => {
  if (!(MODEL_PRESET_NAMES as readonly string[]).includes(s)) throw new InvalidArgumentError(`expected some of ${MODEL_PRESET_NAMES.join(', ')}`);
  return s as ModelPresetName;
};

async function run(o: Options): Promise<void> {
  setLogLevel('warn');
  if (!o.codecs.some((v) => v.codec === 'fp32')) o.codecs.unshift({ codec: 'fp32', topkRatio: DEFAULT_TOPK_RATIO });
  // fp32 first: every other codec is compared with it.
  const variants = [...o.codecs].sort((a, b) => Number(b.codec === 'fp32') - Number(a.codec === 'fp32'));
  const results = [];
  for (const model of o.models) {
    let baseline: number | null = null;
    for (const v of variants) {
      const sparse = createCodec(v.codec).sparse;
      const label = sparse ? `${v.codec}:${v.topkRatio}` : v.codec;
      const { job, accuracy, seconds } = await trainToEnd(
        { name: `compression ${model} ${label}`, model, epochs: o.epochs, seed: o.seed, codec: v.codec, topkRatio: v.topkRatio },
        o.workers,
      );
      const s = job.stats;
      baseline ??= accuracy;
      const row = {
        model,
        codec: v.codec,
        ...(sparse ? { topk_ratio: v.topkRatio } : {}),
        bytes_per_push: round(s.bytesIn / s.pushesAccepted, 1),
        ratio: round(s.rawBytesIn / s.bytesIn, 2),
        bytes_per_pull: round(s.bytesOut / s.pulls, 1),
        accuracy: round(accuracy, 4),
        delta_pt: round((accuracy - baseline) * 100, 2),
        pushes: s.pushesAccepted,
        seconds,
      };
      log(JSON.stringify(row));
      results.push(row);
    }
  }
  process.stdout.write(`${JSON.stringify({ bench: 'compression', epochs: o.epochs, workers: o.workers, seed: o.seed, results })}\n`);
}

export function compressionCommand(): Command {
  return new Command('compression')
    .description('each gradient codec on MNIST mlp and cnn, same epochs: bytes per push, ratio to fp32, accuracy change')
    // mlp-large needs ps tasks (docs/cluster.md): the default compares the presets one process holds.
    .option('--models <list>', `comma-separated: ${MODEL_PRESET_NAMES.join(', ')}`, list(modelName), ['mlp', 'cnn'] satisfies ModelPresetName[])
    .option('--codecs <list>', 'comma-separated: fp32, fp16, int8, topk[:RATIO], topk-packed[:RATIO] (fp32 always runs, as the baseline)', list(parseVariant), [
      'fp32', 'fp16', 'int8', 'topk:0.01', 'topk-packed:0.008',
    ].map(parseVariant))
    .option('--epochs <n>', 'epochs per run (the same for every codec)', integer(1, 100), 5)
    .option('--workers <n>', 'Node worker processes', integer(1, 64), 2)
    .option('--seed <n>', 'job seed (initial weights, shard order)', integer(0, 2 ** 31 - 1), 1)
    .action((o: Options) => run(o));
}
