/** What a worker is told about the job it is assigned (worker:hello, job:assign). */
import type { JobSpec } from '../../shared/job-spec.js';
import { MODES, type ModeWorkerField } from '../../shared/modes.js';
import type { JobAssignment, ModeAssignment } from '../../shared/protocol.js';
import type { ReplicaAssignment } from '../../shared/replica-protocol.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { Dataset } from '../data/dataset.js';

/** `replica`: the worker's stage when the job splits its model and the worker is in a replica (null: waiting, or data parallelism). */
export function assignmentOf(jobId: string, spec: JobSpec, topology: object, tensors: readonly TensorSpec[], dataset: Dataset, replica: ReplicaAssignment | null = null): JobAssignment {
  return {
    jobId,
    name: spec.name,
    description: spec.description,
    topology,
    tensors: tensors.map((s) => ({ name: s.name, shape: [...s.shape] })),
    batchSize: spec.batchSize,
    nFetch: spec.nFetch,
    nPush: spec.nPush,
    codec: spec.codec,
    topkRatio: spec.topkRatio,
    mode: modeAssignment(spec),
    learningRate: spec.optimizer.learningRate,
    dataset: {
      name: dataset.name,
      featureShape: [...dataset.featureShape],
      numClasses: dataset.numClasses,
    },
    stages: spec.stages,
    replica: replica && structuredClone(replica),
  };
}

/** The mode's name and the spec fields its descriptor passes on to workers (shared/modes.ts). */
function modeAssignment(spec: JobSpec): ModeAssignment {
  const { mode } = spec;
  const fields: readonly ModeWorkerField[] = MODES[mode].workerFields;
  // Exactly Pick<JobSpec, WorkerFieldsOf<mode>>, which TypeScript cannot follow through the table lookup.
  return Object.fromEntries([['name', mode], ...fields.map((f) => [f, structuredClone(spec[f])])]) as ModeAssignment;
}
