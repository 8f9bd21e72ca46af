/** A job as volunteers see it (shared/volunteer-protocol.ts JobCard): no spec internals, no worker details. */
import type { JobCard } from '../../shared/volunteer-protocol.js';
import { MODEL_PRESETS } from '../../shared/models.js';
import type { DatasetRegistry } from '../data/datasets.js';
import type { Job } from '../jobs/job.js';

/** States after which a job takes no more work; 'stopped' is named for when the dashboard's stop becomes its own state. */
const FINISHED: ReadonlySet<string> = new Set(['done', 'stopped', 'failed']);

export function isFinished(state: string): boolean {
  return FINISHED.has(state);
}

export function jobCard(job: Job, datasets: DatasetRegistry): JobCard {
  const s = job.summary();
  const model = job.spec.model;
  const last = job.evals.at(-1) ?? null;
  return {
    id: job.id,
    name: job.spec.name,
    description: job.spec.description,
    state: job.state,
    model,
    modelDescription: model === 'custom' ? 'A network the operator uploaded' : MODEL_PRESETS[model].description,
    parameters: job.store.parameterCount,
    dataset: job.spec.dataset,
    ...datasetFacts(job, datasets),
    version: s.version,
    examplesSeen: s.examplesSeen,
    workers: s.workers,
    accuracy: last?.accuracy ?? null,
    final: isFinished(job.state) && last !== null && last.version === job.store.version,
  };
}

function datasetFacts(job: Job, datasets: DatasetRegistry): { trainExamples: number; numClasses: number } {
  try {
    const ds = datasets.get(job.spec.dataset);
    return { trainExamples: ds.train.count, numClasses: ds.numClasses };
  } catch {
    // An upload deleted since the job was built: the job still knows its classes.
    return { trainExamples: 0, numClasses: job.assignment().dataset.numClasses };
  }
}
