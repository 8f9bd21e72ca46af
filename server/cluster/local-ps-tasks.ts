/**
 * `npm start -- --ps N`: N ps task processes (server/ps-task/main.ts) on this machine,
 * children of the coordinator, each on port 0 of 127.0.0.1 with the cluster token of
 * the data dir; each tells its parent its port over IPC.
 *
 * They run in process groups of their own: a terminal's Ctrl-C or a supervisor's group
 * stop reaches the coordinator, which checkpoints every job (reading the parameters
 * from the tasks) and only then stops them, so one group stop is still one clean stop.
 * A task whose parent is gone (even SIGKILLed) sees its IPC channel close and exits.
 * A task that exits while its parent runs is restarted (startLocalPsTasks).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../logger.js';
import { PS_TASK_NODE_FLAGS } from '../ps-task/node-flags.js';
import type { TaskSupervisor } from './task-liveness.js';

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
  /** Connections one IP address may hold to each task (`--connections-per-address`); the coordinator passes its own. Default: the task's default. */
  connectionsPerAddress?: number;
  /** The tasks' log level (DOWNPOUR_LOG). Default: the coordinator's environment's. */
  logLevel?: string;
  /** How long a task gets to start listening. Default 30 s (tsx compiles on a loaded machine). */
  startTimeoutMs?: number;
  /** The wait before restarting a task that exited, doubled for each restart within the minute. Default 500 ms. */
  restartDelayMs?: number;
  /** Restarts of one task within a minute beyond which it is given up (its jobs stay paused, with that reason). Default 5. */
  maxRestartsPerMinute?: number;
}

export interface LocalPsTasks extends TaskSupervisor {
  /** Task i's origin at index i, as it is now (a restarted task listens on a new port). */
  endpoints: readonly string[];
  /** Task i's process id now (undefined while it restarts). */
  pid(task: number): number | undefined;
  /** Stops every task (SIGTERM, a clean close) and waits for them to exit. */
  close(): Promise<void>;
}

type Listener = Parameters<TaskSupervisor['watch']>[0];

/**
 * Starts the tasks one after another, and restarts one that exits unexpectedly (a crash,
 * a SIGKILL, the OOM killer) on a new port after a back-off, telling the watchers
 * (PsCluster moves its endpoint; the jobs recover from their checkpoints). A task that
 * exits more than `maxRestartsPerMinute` times in a minute is given up: a crash loop
 * would only burn the machine, and the operator has to look.
 */
export async function startLocalPsTasks(o: LocalPsOptions): Promise<LocalPsTasks> {
  const children: (ChildProcess | null)[] = Array.from({ length: o.tasks }, () => null);
  const exits = new Set<Promise<void>>();
  const listeners = new Set<Listener>();
  const restarts: number[][] = Array.from({ length: o.tasks }, () => []);
  const timers = new Set<NodeJS.Timeout>();
  const endpoints: string[] = [];
  const maxPerMinute = o.maxRestartsPerMinute ?? 5;
  const baseDelay = o.restartDelayMs ?? 500;
  let closing = false;

  /** Forks task `task`; resolves with its origin once it listens. `onExit` hears an exit after that. */
  const fork1 = (task: number) =>
    new Promise<string>((resolve, reject) => {
      const args = ['--port', '0', '--host', '127.0.0.1', '--data-dir', o.dataDir];
      if (o.tokenFile !== undefined) args.push('--token-file', o.tokenFile);
      if (o.connectionsPerAddress !== undefined) args.push('--connections-per-address', String(o.connectionsPerAddress));
      const child = fork(PS_MAIN, args, {
        execArgv: ['--import', 'tsx', ...PS_TASK_NODE_FLAGS],
        detached: true,
        env: o.logLevel === undefined ? process.env : { ...process.env, DOWNPOUR_LOG: o.logLevel },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children[task] = child;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      exits.add(exited);
      void exited.then(() => exits.delete(exited));
      let listening = false;
      const timer = setTimeout(() => {
        reject(new Error(`ps task ${task} did not start within ${o.startTimeoutMs ?? 30_000} ms`));
        child.kill('SIGKILL');
      }, o.startTimeoutMs ?? 30_000);
      child.on('message', (m: PsTaskMessage) => {
        if (m?.type !== 'listening') return;
        clearTimeout(timer);
        listening = true;
        resolve(`http://127.0.0.1:${m.port}`);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (children[task] === child) children[task] = null;
        if (!listening) reject(new Error(`ps task ${task} exited (${code ?? signal}) before it listened`));
        else if (!closing) exitedUnexpectedly(task, child.pid, code, signal);
      });
    });

  const exitedUnexpectedly = (task: number, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null) => {
    log.error('ps task exited', { task, pid, code, signal });
    scheduleRestart(task, `exited (${code ?? signal})`);
  };

  const scheduleRestart = (task: number, why: string) => {
    if (closing) return;
    const now = Date.now();
    const recent = (restarts[task] = restarts[task]!.filter((t) => now - t < 60_000));
    if (recent.length >= maxPerMinute) {
      const reason = `${why} and was restarted ${recent.length} times within a minute: not restarted again (see the coordinator's log)`;
      log.error('ps task given up', { task, reason });
      for (const l of listeners) l.gone(task, reason);
      return;
    }
    recent.push(now);
    const delay = baseDelay * 2 ** (recent.length - 1);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (closing) return;
      fork1(task).then(
        (url) => {
          endpoints[task] = url;
          log.warn('ps task restarted', { task, url, pid: children[task]?.pid });
          for (const l of listeners) l.moved(task, url);
        },
        (err: unknown) => scheduleRestart(task, err instanceof Error ? err.message : String(err)),
      );
    }, delay);
    timers.add(timer);
  };

  const close = async () => {
    closing = true;
    for (const t of timers) clearTimeout(t);
    for (const c of children) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all([...exits]);
  };
  try {
    // One after another: the first generates the data dir's token if it is missing, and the others read it.
    for (let t = 0; t < o.tasks; t++) endpoints.push(await fork1(t));
    log.info('ps tasks started', { endpoints });
    return {
      endpoints,
      pid: (task) => children[task]?.pid,
      watch(on) {
        listeners.add(on);
        return () => listeners.delete(on);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
