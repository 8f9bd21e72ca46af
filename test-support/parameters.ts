/**
 * Tests and benches that look inside a job's parameters (values bit for bit, the
 * optimizer, the mode's counters) reach its in-process parameter service here; the
 * job itself only lends it out as a read-only ParameterView.
 */
import type { Job } from '../server/jobs/job.js';
import { LocalParameterService } from '../server/params/local-parameter-service.js';

export function localParameters(job: Job): LocalParameterService {
  const p = job.parameters;
  if (!(p instanceof LocalParameterService)) throw new Error(`Job ${job.id} has no in-process parameter service`);
  return p;
}
