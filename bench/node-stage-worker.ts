/**
 * A stage worker in its own process (bench/stage-worker.ts on tfjs's wasm backend), so
 * the stages of a replica compute at once as tabs do: the pipeline benchmark forks
 * them. Reports to its parent over IPC (StageWorkerMessage) every second; exits 0 when
 * the coordinator assigns it no job.
 *
 * Usage: tsx bench/node-stage-worker.ts <coordinator-url>
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from '../client/engine/wasm-conv2d-backprop-filter.js';
import { startStageWorker } from './stage-worker.js';

export interface StageWorkerProgress {
  /** Its stage in its current replica (null: waiting). */
  stage: number | null;
  replicaId: string | null;
  /** Examples of its accepted pushes, frame bytes each way, busy ms: totals since it started. */
  examples: number;
  bytesSent: number;
  bytesReceived: number;
  busyMs: number;
  /** performance.now() when this was taken (ms). */
  at: number;
}

export type StageWorkerMessage = { type: 'ready'; workerId: string } | { type: 'progress'; progress: StageWorkerProgress };

const PROGRESS_MS = 1000;

async function main(url: string): Promise<void> {
  tf.enableProdMode();
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend could not be initialised');
  registerWasmGradientKernels();
  const progress: StageWorkerProgress = { stage: null, replicaId: null, examples: 0, bytesSent: 0, bytesReceived: 0, busyMs: 0, at: 0 };
  const send = (m: StageWorkerMessage) => (process.send ? process.send(m) : process.stderr.write(`${JSON.stringify(m)}\n`));
  const worker = await startStageWorker(url, {
    staged: (job) => {
      progress.stage = job.replica!.stage;
      progress.replicaId = job.replica!.replicaId;
    },
    unstaged: () => {
      progress.stage = null;
      progress.replicaId = null;
    },
    examples: (n) => (progress.examples += n),
    assigned: (job) => {
      if (job === null) {
        worker.close();
        process.exit(0);
      }
    },
  });
  send({ type: 'ready', workerId: worker.workerId });
  setInterval(() => {
    Object.assign(progress, worker.traffic, { at: performance.now() });
    send({ type: 'progress', progress: { ...progress } });
  }, PROGRESS_MS);
  worker.socket.on('disconnect', () => process.exit(2));
}

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: tsx bench/node-stage-worker.ts <coordinator-url>\n');
  process.exit(64);
}
main(url).catch((err: unknown) => {
  process.stderr.write(`stage worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
