/** A ps task as its own process (server/ps-task/main.ts, as `npm run ps` starts it): what a SIGKILL test needs. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PsTaskMessage } from '../server/cluster/local-ps-tasks.js';
import { PS_TASK_NODE_FLAGS } from '../server/ps-task/node-flags.js';

const PS_MAIN = fileURLToPath(new URL('../server/ps-task/main.ts', import.meta.url));

export interface PsTaskProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** SIGKILL, and resolves once it is gone. */
  kill(): Promise<void>;
}

/** A ps task process on 127.0.0.1 (`port` 0: any) with `dataDir`, the token in `tokenFile` and further command-line `args`; resolves once it listens. */
export function forkPsTask(dataDir: string, tokenFile: string, port = 0, args: readonly string[] = []): Promise<PsTaskProcess> {
  const child = fork(PS_MAIN, ['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--token-file', tokenFile, ...args], {
    execArgv: ['--import', 'tsx', ...PS_TASK_NODE_FLAGS],
    env: { ...process.env, DOWNPOUR_LOG: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ps task did not listen within 60 s')), 60_000);
    child.on('message', (m: PsTaskMessage) => {
      if (m?.type !== 'listening') return;
      clearTimeout(timer);
      resolve({
        child,
        url: `http://127.0.0.1:${m.port}`,
        port: m.port,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await gone;
        },
      });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ps task exited (${code ?? signal}) before it listened`));
    });
  });
}
