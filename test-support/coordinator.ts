/** A real coordinator on port 0 with one job, for server tests, e2e specs, the farm test and benches. */
import type { JobSpecInput } from '../shared/job-spec.js';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../server/coordinator.js';
import type { Job } from '../server/jobs/job.js';
import { setLogLevel } from '../server/logger.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveClusterToken } from '../server/cluster/cluster-token.js';
import { startLocalPsTasks, type LocalPsTasks } from '../server/cluster/local-ps-tasks.js';

/**
 * Push slots never required for a late event loop: a test's workers run on the
 * coordinator's loop, so a late loop there is the test's own doing (a full window and the
 * in-flight bounds still require them). startCoordinator sets it; a test that builds a
 * coordinator itself passes it.
 */
export const NO_LATE_SLOTS = { lateMs: Number.POSITIVE_INFINITY } as const;

export interface Running {
  coordinator: Coordinator;
  url: string;
  job: Job;
  /** The ps tasks' origins (empty when the parameters are in the coordinator). */
  psEndpoints?: string[];
  /** The ps task processes when `cluster.ps` started them (their pids, for tests that kill one). */
  psTasks?: LocalPsTasks | null;
  close(): Promise<void>;
}

/**
 * Creates the job (an mlp that evaluates hourly unless `spec` says otherwise) and listens
 * on 127.0.0.1, port 0. The direction check is off unless `spec` sets directionThreshold,
 * and the PS takes its own gradient hourly unless `spec` sets trustedRefreshSeconds:
 * most tests push hand-made gradients, which neither should judge against real ones,
 * and a thread computing gradients beside every test would load a shared machine.
 * Pushes are answered BUSY only past the in-flight bounds unless `options.admission`
 * sets maxLoopDelayMs, and a late loop does not make push slots required unless
 * `options.slots` sets lateMs (a full window and the in-flight bounds still do).
 */
export async function startCoordinator(spec: JobSpecInput = {}, options: CoordinatorOptions = {}, cluster: ClusterOption = {}): Promise<Running> {
  setLogLevel('warn');
  const ps = cluster.ps ? await startTestPsTasks(cluster.ps, options.dataDir ?? null) : null;
  // The loop-delay bound is off unless a test sets it: a test's workers (tfjs training, gradients
  // built in the test) run on the coordinator's event loop, beside other suites on the machine,
  // so a late loop here is the test's own doing, not a queue of pushes (server/test/overload.test.ts sets it).
  const admission = { maxLoopDelayMs: Number.POSITIVE_INFINITY, ...options.admission };
  const slots = { ...NO_LATE_SLOTS, ...options.slots };
  const coordinator = createCoordinator(ps ? { ...options, admission, slots, cluster: { ...ps.options, ...options.cluster } } : { ...options, admission, slots });
  const closeAll = async () => {
    await coordinator.close();
    await ps?.close();
  };
  // On ps tasks tests run without the norm bound unless they say otherwise: most push constant gradients or compare with one process bit for bit.
  const created = await coordinator.createJob({ model: 'mlp', evalIntervalSeconds: 3600, directionThreshold: null, trustedRefreshSeconds: 3600, ...(ps ? { normBound: 0 } : {}), ...spec });
  if (!created.ok) {
    await closeAll();
    throw new Error(created.message);
  }
  const { port } = await coordinator.listen(0, '127.0.0.1');
  return {
    coordinator,
    url: `http://127.0.0.1:${port}`,
    job: created.job,
    psEndpoints: ps?.options.endpoints ?? [],
    psTasks: ps?.local ?? null,
    close: closeAll,
  };
}

export interface ClusterOption {
  /** Start this many ps task processes (as `npm start -- --ps N` does) and keep the jobs' parameters on them. Default: none. */
  ps?: number;
}

/** Real ps task processes with a cluster token in `dataDir` (a temporary directory when null). */
async function startTestPsTasks(tasks: number, dataDir: string | null) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'downpour-ps-'));
  const token = resolveClusterToken({ dataDir: dir });
  if (!token.ok) throw new Error(token.message);
  const local = await startLocalPsTasks({ tasks, dataDir: dir, logLevel: 'warn' });
  return {
    options: { endpoints: [...local.endpoints], token: token.token, supervisor: local },
    local,
    close: async () => {
      await local.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
