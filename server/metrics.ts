/**
 * Prometheus metrics (prom-client) read from the coordinator's state when scraped,
 * so the push path pays nothing for them. Rates (versions/s, bytes/s) are PromQL's
 * rate() over the counters.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES } from '../shared/protocol.js';
import type { JobRegistry } from './jobs/job-registry.js';
import type { WorkerDirectory } from './worker/worker-directory.js';

export function createMetrics(jobs: JobRegistry, workers: WorkerDirectory): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'downpour_process_' });
  const perJob = (name: string, help: string, labelNames: string[], read: (g: Gauge) => void) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); read(this); } });

  new Gauge({ name: 'downpour_workers', help: 'Connected workers', registers: [registry], collect() { this.set(workers.list().length); } });
  perJob('downpour_job_workers', 'Workers assigned to each job', ['job'], (g) => {
    for (const j of jobs.list()) g.set({ job: j.id }, j.workers.size);
  });
  // One series per state, 1 for the job's current one: `done` and `stopped` stay apart in any query.
  perJob('downpour_job_state', 'Lifecycle state of each job (1 for the current state, 0 for the others)', ['job', 'state'], (g) => {
    for (const j of jobs.list()) for (const state of JOB_STATES) g.set({ job: j.id, state }, j.state === state ? 1 : 0);
  });
  perJob('downpour_job_version', 'Parameter version of each job (a counter: rate() is versions/s)', ['job'], (g) => {
    for (const j of jobs.list()) g.set({ job: j.id }, j.store.version);
  });
  perJob('downpour_pushes_total', 'Gradient pushes by result code (accepted or the refusal code)', ['job', 'result'], (g) => {
    for (const j of jobs.list()) {
      g.set({ job: j.id, result: 'accepted' }, j.stats.pushesAccepted);
      for (const [code, n] of Object.entries(j.stats.pushesRejected)) g.set({ job: j.id, result: code }, n ?? 0);
    }
  });
  perJob('downpour_bytes_in_total', 'Gradient bytes received', ['job'], (g) => {
    for (const j of jobs.list()) g.set({ job: j.id }, j.stats.bytesIn);
  });
  perJob('downpour_gradient_compression_ratio', 'fp32-equivalent gradient bytes over bytes received (1 for fp32)', ['job'], (g) => {
    for (const j of jobs.list()) if (j.stats.bytesIn > 0) g.set({ job: j.id }, j.stats.rawBytesIn / j.stats.bytesIn);
  });
  perJob('downpour_bytes_out_total', 'Parameter bytes sent', ['job'], (g) => {
    for (const j of jobs.list()) g.set({ job: j.id }, j.stats.bytesOut);
  });
  perJob('downpour_examples_seen_total', 'Training examples in accepted pushes', ['job'], (g) => {
    for (const j of jobs.list()) g.set({ job: j.id }, j.stats.examplesSeen);
  });
  perJob('downpour_eval_accuracy', 'Test accuracy of the last evaluation', ['job'], (g) => {
    for (const j of jobs.list()) {
      const e = j.evals.at(-1);
      if (e) g.set({ job: j.id }, e.accuracy);
    }
  });
  perJob('downpour_eval_loss', 'Test loss of the last evaluation', ['job'], (g) => {
    for (const j of jobs.list()) {
      const e = j.evals.at(-1);
      if (e) g.set({ job: j.id }, e.loss);
    }
  });
  return registry;
}
