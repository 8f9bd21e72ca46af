/**
 * A stage worker in its own process (bench/stage-worker.ts on tfjs's wasm backend), so
 * the stages of a replica compute at once as tabs do: the pipeline benchmark forks
 * them. Reports to its parent over IPC (StageWorkerMessage) every second; exits 0 when
 * the coordinator assigns it no job.
 *
 * Usage: tsx bench/node-stage-worker.ts <coordinator-url>
 */
import { performance as nodePerformance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ThreadProfiler, type ProfileShares } from './stage-profile.js';
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
  /**
   * Its thread's event loop since it started (performance.eventLoopUtilization): idle is
   * the time it waited in the poll for anything to do, active everything else (tfjs,
   * socket.io's own encoding and parsing, garbage collection). The stage meter's busy
   * time counts only the phases it times, so this is the check on it: a stage whose
   * loop is never idle waited for no one, whatever its counted busy time says.
   */
  loop: { idleMs: number; activeMs: number };
  /** Its thread's CPU profile over the window, when the bench asked for one (bench/stage-profile.ts). */
  profile?: ProfileShares;
  /** performance.now() when this was taken (ms). */
  at: number;
}

export type StageWorkerMessage = { type: 'ready'; workerId: string } | { type: 'progress'; progress: StageWorkerProgress };
/**
 * From the parent: report now (the bench opens and closes its window on fresh figures),
 * and, with --cpu-profile, start the thread's profiler or stop it and write it to a path.
 */
export type StageWorkerRequest = { type: 'sample'; profile?: 'start' | { writeTo: string } };

const PROGRESS_MS = 1000;

async function main(url: string): Promise<void> {
  tf.enableProdMode();
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend could not be initialised');
  registerWasmGradientKernels();
  const progress: StageWorkerProgress = { stage: null, replicaId: null, examples: 0, bytesSent: 0, bytesReceived: 0, busyMs: 0, loop: { idleMs: 0, activeMs: 0 }, at: 0 };
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
  const take = (): StageWorkerProgress => {
    const { idle, active } = nodePerformance.eventLoopUtilization();
    return Object.assign(progress, worker.traffic, { loop: { idleMs: idle, activeMs: active }, at: performance.now() });
  };
  const report = () => send({ type: 'progress', progress: { ...take() } });
  setInterval(report, PROGRESS_MS);
  const profiler = new ThreadProfiler();
  process.on('message', (m: StageWorkerRequest) => {
    if (m?.type !== 'sample') return;
    if (m.profile === 'start') void profiler.start().then(report);
    else if (m.profile) {
      // The window closes at these figures, before the profiler's own stopping and writing.
      const taken = { ...take() };
      void profiler.stop(m.profile.writeTo).then((profile) => send({ type: 'progress', progress: { ...taken, profile } }));
    } else report();
  });
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
