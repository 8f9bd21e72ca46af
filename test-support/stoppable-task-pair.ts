/**
 * Two ps tasks under a chief's PsCluster on a ManualClock, for the tests of closes a
 * task misses (ps-round-retry, ps-step-retry): task 0 in this process, task 1 its own
 * process so a test can SIGSTOP and SIGCONT it, a worker socket on each. Registers its
 * own vitest hooks: started before the file's tests, everything closed after them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { PsCluster } from '../server/cluster/ps-cluster.js';
import { ManualClock } from './manual-clock.js';
import { connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from './ps-clients.js';
import { forkPsTask, type PsTaskProcess } from './ps-process.js';

export interface StoppableTaskPair {
  /** Set before the file's tests run. */
  task0: RunningPsTask;
  task1: PsTaskProcess;
  cluster: PsCluster;
  /** A worker socket on each task, in task order. */
  workers: PsWorkerClient[];
  /** The cluster's: its probes and the chief's retries. Started at the real time, since the tasks check the tickets it signs on it against their own clocks. */
  clock: ManualClock;
}

export function useStoppableTaskPair(name: string, token: string, o: { partitionBytes: number; probeMs: number }): StoppableTaskPair {
  const root = mkdtempSync(join(tmpdir(), `downpour-${name}-`));
  const tokenFile = join(root, 'cluster-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const pair = { workers: [] as PsWorkerClient[], clock: new ManualClock(Date.now()) } as StoppableTaskPair;
  beforeAll(async () => {
    pair.task0 = await startPsTask({ token, dataDir: join(root, 'ps0') });
    pair.task1 = await forkPsTask(join(root, 'ps1'), tokenFile);
    pair.workers.push(await connectPsWorker(pair.task0.url), await connectPsWorker(pair.task1.url));
    // A short answer timeout (real time: the socket's); the probe and the retries on the manual clock.
    pair.cluster = new PsCluster({ endpoints: [pair.task0.url, pair.task1.url], token, epoch: 1, partitionBytes: o.partitionBytes, clock: pair.clock, probeMs: o.probeMs, requestTimeoutMs: 1000 });
  }, 120_000);
  afterAll(async () => {
    const { task1 } = pair;
    if (task1.child.signalCode === null && task1.child.exitCode === null) task1.child.kill('SIGCONT');
    await pair.cluster.close();
    pair.workers.forEach((w) => w.disconnect());
    await pair.task0.close();
    await task1.kill();
    rmSync(root, { recursive: true, force: true });
  });
  return pair;
}
