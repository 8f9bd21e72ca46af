/** A job as volunteers see it (shared/volunteer-protocol.ts JobCard): no spec internals, no worker details. */
import type { JobCard } from '../../shared/volunteer-protocol.js';
import { MODEL_PRESETS } from '../../shared/models.js';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { WireFacts } from '../../shared/wire-estimate.js';
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
    parameters: job.parameters.parameterCount,
    dataset: job.spec.dataset,
    ...datasetFacts(job, datasets),
    version: s.version,
    examplesSeen: s.examplesSeen,
    workers: s.workers,
    accuracy: last?.accuracy ?? null,
    final: isFinished(job.state) && last !== null && last.version === job.version,
    wire: wireFacts(job, datasets),
  };
}

function wireFacts(job: Job, datasets: DatasetRegistry): WireFacts {
  const { spec } = job;
  const values = job.assignment().dataset.featureShape.reduce((a, b) => a * b, 1);
  let bytesPerValue = 4;
  try {
    if (datasets.get(spec.dataset).encoding === FeatureEncoding.UINT8_UNIT) bytesPerValue = 1;
  } catch {
    // An upload deleted since: uploads are float32.
  }
  return {
    codec: spec.codec,
    topkRatio: spec.topkRatio,
    nPush: spec.nPush,
    nFetch: spec.nFetch,
    batchSize: spec.batchSize,
    bytesPerExampleOfData: values * bytesPerValue + 1, // and its label
    sparseUpdates: spec.optimizer.type === 'sgd' || spec.optimizer.type === 'adagrad',
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
