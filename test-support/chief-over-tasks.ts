/**
 * A chief over two in-process ps tasks, each with its own data dir, for the tests that
 * restart the chief and the tasks around a checkpoint cut (ps-checkpoint-resume,
 * ps-restore-fallback). Registers its own vitest hooks: the tasks start before the
 * file's tests and everything closes after them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createCoordinator, type Coordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { startPsTask, type PsWorkerClient, type RunningPsTask } from './ps-clients.js';

export interface ChiefOverTasks {
  /** Holds the chief's data dir and each task's (`task-<n>`). */
  root: string;
  /** Replaced in place when the tasks restart. */
  tasks: RunningPsTask[];
  /** Worker sockets the test opened: disconnected at the end. */
  sockets: PsWorkerClient[];
  /** A coordinator over the tasks as chief at `epoch` (a restarted one takes a higher one), on the one chief data dir. */
  chief(epoch: number): Coordinator;
  /** Every task restarts on its port and data dir: its slices are gone, its parts stay. */
  restartTasks(): Promise<void>;
  /** Closes `c` once (a second close would checkpoint again, over sockets already closed). */
  stop(c: Coordinator): Promise<void>;
}

export function useChiefOverTasks(name: string, token: string): ChiefOverTasks {
  const root = mkdtempSync(join(tmpdir(), `downpour-${name}-`));
  const open: Coordinator[] = [];
  const setup: ChiefOverTasks = {
    root,
    tasks: [],
    sockets: [],
    chief(epoch) {
      const c = createCoordinator({ dataDir: join(root, 'chief'), operatorToken: `${name}-token`, cluster: { endpoints: setup.tasks.map((t) => t.url), token, epoch } });
      open.push(c);
      return c;
    },
    async restartTasks() {
      for (let t = 0; t < setup.tasks.length; t++) {
        const port = Number(new URL(setup.tasks[t]!.url).port);
        await setup.tasks[t]!.close();
        setup.tasks[t] = await startPsTask({ token, dataDir: join(root, `task-${t}`) }, port);
      }
    },
    async stop(c) {
      open.splice(open.indexOf(c), 1);
      await c.close();
    },
  };
  beforeAll(async () => {
    for (let t = 0; t < 2; t++) setup.tasks.push(await startPsTask({ token, dataDir: join(root, `task-${t}`) }));
    setLogLevel('error');
  });
  afterAll(async () => {
    setup.sockets.forEach((s) => s.disconnect());
    for (const c of open.splice(0)) await c.close();
    await Promise.all(setup.tasks.map((t) => t.close()));
    rmSync(root, { recursive: true, force: true });
  });
  return setup;
}
