/**
 * Forked Node workers (bench/node-worker.ts) against one coordinator: start, kill with
 * SIGKILL, and keep each one's latest IPC report. Used by the churn and soak
 * benchmarks and the churn test.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TRAINING_EXEC_ARGV } from '../server/heap-flags.js';
import type { NodeWorkerMessage, NodeWorkerProgress } from './node-worker.js';

const WORKER_FILE = fileURLToPath(new URL('./node-worker.ts', import.meta.url));

export interface PooledWorker {
  readonly index: number;
  readonly child: ChildProcess;
  /** Set once the worker said hello to the coordinator. */
  workerId: string | null;
  backend: string | null;
  progress: NodeWorkerProgress | null;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  killed: boolean;
}

export class WorkerPool {
  readonly workers: PooledWorker[] = [];
  private started = 0;

  constructor(
    private readonly url: string,
    /** Where workers' stderr goes; default: this process's stderr. */
    private readonly stderr: 'inherit' | 'ignore' = 'inherit',
  ) {}

  /** Forks one worker; resolves once it has said hello (or rejects if it dies first). */
  start(extraArgs: readonly string[] = []): Promise<PooledWorker> {
    const child = fork(WORKER_FILE, [this.url, ...extraArgs], { execArgv: [...TRAINING_EXEC_ARGV], stdio: ['ignore', 'ignore', this.stderr, 'ipc'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const w: PooledWorker = { index: this.started++, child, workerId: null, backend: null, progress: null, exited, killed: false };
    this.workers.push(w);
    return new Promise((resolve, reject) => {
      child.on('message', (m: NodeWorkerMessage) => {
        if (m.type === 'ready') {
          w.workerId = m.workerId;
          w.backend = m.backend;
          resolve(w);
        } else w.progress = m.progress;
      });
      void exited.then((code) => reject(new Error(`node worker ${w.index} exited (${code}) before it said hello`)));
    });
  }

  /** Workers not killed and not exited. */
  alive(): PooledWorker[] {
    return this.workers.filter((w) => !w.killed && w.child.exitCode === null && w.child.signalCode === null);
  }

  /** SIGKILL: no goodbye, no flush; the coordinator sees the socket drop. */
  kill(w: PooledWorker): void {
    w.killed = true;
    w.child.kill('SIGKILL');
  }

  /** Kills whatever is still running and waits for every process to be gone. */
  async close(): Promise<void> {
    for (const w of this.alive()) this.kill(w);
    await Promise.all(this.workers.map((w) => w.exited));
  }
}
