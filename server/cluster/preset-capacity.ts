/**
 * Job creation's capacity check for presets: a preset whose parameters on the job's
 * dataset exceed what the parameter-server tasks hold is refused before it is built,
 * with the per-task cap and the ps tasks it needs (capacity.ts). Until ps tasks are
 * wired into the coordinator it has one task's worth: mlp-large is refused on every
 * dataset. Custom topologies are sized by their census (server/jobs/model-init.ts).
 */
import type { JobSpec } from '../../shared/job-spec.js';
import { MODEL_PRESETS } from '../../shared/models.js';
import type { Failure } from '../../shared/result.js';
import type { DatasetRegistry } from '../data/datasets.js';
import { capacityRefusal } from './capacity.js';

/** What the check reads of the DatasetRegistry. */
export interface DatasetShapes {
  has: DatasetRegistry['has'];
  get(name: string): { featureShape: number[]; numClasses: number };
}

/** The refusal when `spec`'s preset does not fit `tasks` ps tasks; null when it fits, or when the job's own checks will refuse it. */
export function presetCapacityRefusal(spec: Pick<JobSpec, 'model' | 'dataset'>, datasets: DatasetShapes, tasks = 1): Failure | null {
  if (spec.model === 'custom' || !datasets.has(spec.dataset)) return null;
  let shape: ReturnType<DatasetShapes['get']>;
  try {
    shape = datasets.get(spec.dataset);
  } catch {
    return null; // a dataset that does not load is the job registry's to report
  }
  const parameters = MODEL_PRESETS[spec.model].parameters(shape.featureShape, shape.numClasses);
  if (parameters === null) return null;
  const refusal = capacityRefusal(spec.model, parameters, tasks);
  return refusal && { ...refusal, message: `model: ${refusal.message}` };
}
