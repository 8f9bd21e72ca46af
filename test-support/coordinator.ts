/** A real coordinator on port 0 with one job, for server tests, e2e specs, the farm test and benches. */
import type { JobSpecInput } from '../shared/job-spec.js';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../server/coordinator.js';
import type { Job } from '../server/jobs/job.js';
import { setLogLevel } from '../server/logger.js';

export interface Running {
  coordinator: Coordinator;
  url: string;
  job: Job;
  close(): Promise<void>;
}

/**
 * Creates the job (an mlp that evaluates hourly unless `spec` says otherwise) and listens
 * on 127.0.0.1, port 0. The direction check is off unless `spec` sets directionThreshold,
 * and the PS takes its own gradient hourly unless `spec` sets trustedRefreshSeconds:
 * most tests push hand-made gradients, which neither should judge against real ones,
 * and a thread computing gradients beside every test would load a shared machine.
 * Pushes are answered BUSY only past the in-flight bounds unless `options.admission`
 * sets maxLoopDelayMs.
 */
export async function startCoordinator(spec: JobSpecInput = {}, options: CoordinatorOptions = {}): Promise<Running> {
  setLogLevel('warn');
  // The loop-delay bound is off unless a test sets it: a test's workers (tfjs training, gradients
  // built in the test) run on the coordinator's event loop, beside other suites on the machine,
  // so a late loop here is the test's own doing, not a queue of pushes (server/test/overload.test.ts sets it).
  const coordinator = createCoordinator({ ...options, admission: { maxLoopDelayMs: Number.POSITIVE_INFINITY, ...options.admission } });
  const created = await coordinator.createJob({ model: 'mlp', evalIntervalSeconds: 3600, directionThreshold: null, trustedRefreshSeconds: 3600, ...spec });
  if (!created.ok) throw new Error(created.message);
  const { port } = await coordinator.listen(0, '127.0.0.1');
  return {
    coordinator,
    url: `http://127.0.0.1:${port}`,
    job: created.job,
    close: () => coordinator.close(),
  };
}
