/**
 * `npm run convert-checkpoint -- FILE OUT_DIR [--model model.json] [--data-dir DIR]`:
 * writes a checkpoint's parameters as a tfjs Layers model (OUT_DIR/model.json,
 * weights.bin and README.txt), which stock tf.loadLayersModel reads. The topology comes
 * from the job's model.json (--model: the dashboard's download, unzipped) or from the
 * coordinator's data dir the checkpoint lies in. See docs/operator-guide.md.
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConvertError, checkpointModel } from '../server/export/checkpoint-model.js';
import { modelFiles } from '../server/http/model-export.js';
import { setLogLevel } from '../server/logger.js';

interface Options {
  model?: string;
  dataDir?: string;
}

async function convert(file: string, outDir: string, options: Options): Promise<void> {
  setLogLevel('warn');
  const source = await checkpointModel(file, options);
  mkdirSync(outDir, { recursive: true });
  for (const f of modelFiles(source)) {
    writeFileSync(join(outDir, f.name), f.data);
    process.stdout.write(`${join(outDir, f.name)}\n`);
  }
  process.stderr.write(`[convert-checkpoint] job ${source.jobId}, version ${source.version}: load ${join(outDir, 'model.json')} with tf.loadLayersModel\n`);
}

const program = new Command('convert-checkpoint')
  .description("Writes a Downpour checkpoint (.dpck) as a tfjs Layers model (model.json + weights.bin)")
  .argument('<file>', 'the checkpoint file')
  .argument('<out-dir>', 'where model.json, weights.bin and README.txt go')
  .option('--model <path>', "the job's model.json (or its folder): its topology and tensor names")
  .option('--data-dir <dir>', "the coordinator's data dir (default: the one the checkpoint lies in)")
  .action((file: string, outDir: string, options: Options) => convert(file, outDir, options))
  .showHelpAfterError();
program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`convert-checkpoint: ${err instanceof ConvertError || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
