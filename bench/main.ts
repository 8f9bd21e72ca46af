/**
 * `npm run bench -- NAME [flags]`: runs one benchmark and prints its JSON result as
 * the last line of stdout (progress goes to stderr).
 */
import { Command } from 'commander';
import { browserSocketCommand } from './browser-socket.js';
import { byzantineCommand } from './byzantine.js';
import { churnCommand } from './churn.js';
import { compressionCommand } from './compression.js';
import { loadCommand } from './load.js';
import { modesCommand } from './modes.js';
import { overheadCommand } from './overhead.js';
import { pipelineCommand } from './pipeline.js';
import { psApplyCommand } from './ps-apply.js';
import { psScaleCommand } from './ps-scale.js';
import { soakCommand } from './soak.js';
import { throttleCommand } from './throttle.js';
import { timeToAccuracyCommand } from './time-to-accuracy.js';
import { uploadStallCommand } from './upload-stall.js';
import { wireCostCommand } from './wire-cost.js';

const program = new Command('bench').description('Downpour benchmarks; each prints one JSON line last').showHelpAfterError();
program.addCommand(browserSocketCommand());
program.addCommand(byzantineCommand());
program.addCommand(churnCommand());
program.addCommand(compressionCommand());
program.addCommand(loadCommand());
program.addCommand(modesCommand());
program.addCommand(overheadCommand());
program.addCommand(pipelineCommand());
program.addCommand(soakCommand());
program.addCommand(throttleCommand());
program.addCommand(timeToAccuracyCommand());
program.addCommand(psApplyCommand());
program.addCommand(psScaleCommand());
program.addCommand(uploadStallCommand());
program.addCommand(wireCostCommand());
program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
