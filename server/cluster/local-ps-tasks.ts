/**
 * `npm start -- --ps N`: N ps task processes (server/ps-task/main.ts) on this machine,
 * children of the coordinator, each on port 0 of 127.0.0.1 with the cluster token of
 * the data dir; each tells its parent its port over IPC.
 *
 * They run in process groups of their own: a terminal's Ctrl-C or a supervisor's group
 * stop reaches the coordinator, which checkpoints every job (reading the parameters
 * from the tasks) and only then stops them, so one group stop is still one clean stop.
 * A task whose parent is gone (even SIGKILLed) sees its IPC channel close and exits.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../logger.js';

const log = createLogger('local-ps');
const PS_MAIN = fileURLToPath(new URL('../ps-task/main.ts', import.meta.url));

/** What a ps task forked by a coordinator tells it. */
export type PsTaskMessage = { type: 'listening'; port: number };

export interface LocalPsOptions {
  tasks: number;
  /** Where the cluster token is (generated on first start): the coordinator reads the same one. */
  dataDir: string;
  /** The cluster token's file, when not the data dir's. */
  tokenFile?: string;
  /** The tasks' log level (DOWNPOUR_LOG). Default: the coordinator's environment's. */
  logLevel?: string;
  /** How long a task gets to start listening. Default 30 s (tsx compiles on a loaded machine). */
  startTimeoutMs?: number;
}

export interface LocalPsTasks {
  /** Task i's origin at index i. */
  endpoints: string[];
  /** Task i's process id at index i (benches read their CPU time). */
  pids: number[];
  /** Stops every task (SIGTERM, a clean close) and waits for them to exit. */
  close(): Promise<void>;
}

export async function startLocalPsTasks(o: LocalPsOptions): Promise<LocalPsTasks> {
  const children: ChildProcess[] = [];
  const exits: Promise<void>[] = [];
  let closing = false;
  const start = (task: number) =>
    new Promise<string>((resolve, reject) => {
      const child = fork(PS_MAIN, ['--port', '0', '--host', '127.0.0.1', '--data-dir', o.dataDir, ...(o.tokenFile === undefined ? [] : ['--token-file', o.tokenFile])], {
        execArgv: ['--import', 'tsx'],
        detached: true,
        env: o.logLevel === undefined ? process.env : { ...process.env, DOWNPOUR_LOG: o.logLevel },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
      exits.push(new Promise((r) => child.once('exit', () => r())));
      const timer = setTimeout(() => reject(new Error(`ps task ${task} did not start within ${o.startTimeoutMs ?? 30_000} ms`)), o.startTimeoutMs ?? 30_000);
      child.on('message', (m: PsTaskMessage) => {
        if (m?.type !== 'listening') return;
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m.port}`);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`ps task ${task} exited (${code ?? signal}) before it listened`));
        if (!closing) log.error('ps task exited', { task, pid: child.pid, code, signal });
      });
    });
  const close = async () => {
    closing = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(exits);
  };
  try {
    // One after another: the first generates the data dir's token if it is missing, and the others read it.
    const endpoints: string[] = [];
    for (let t = 0; t < o.tasks; t++) endpoints.push(await start(t));
    log.info('ps tasks started', { endpoints });
    return { endpoints, pids: children.map((c) => c.pid!), close };
  } catch (err) {
    await close();
    throw err;
  }
}
