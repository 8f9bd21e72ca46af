/**
 * Every job spec field in a group, for the job's full configuration and for cloning.
 * The tables are Records over the spec's keys, so a new spec field does not compile
 * until it has a group here (and so appears in every job's detail).
 */
import { getCodec } from '../../shared/codec.js';
import { TRIMMING_AGGREGATIONS, type JobSpec, type OptimizerSpec, type OptimizerType } from '../../shared/job-spec.js';
import { MODE_SPEC_FIELDS, MODES, modeReads, type ModeSpecField } from '../../shared/modes.js';

/** The fields only a split job (stages > 1) reads. */
export const SPLIT_FIELDS = ['microbatches', 'pipelineDepth', 'activationCodec'] as const satisfies readonly SpecPath[];
export type SplitField = (typeof SPLIT_FIELDS)[number];

export const SPEC_GROUPS = ['Job', 'Model and data', 'Optimizer (parameter server)', 'Worker exchange', 'Consistency', 'Robustness', 'Schedule and stopping'] as const;
export type SpecGroup = (typeof SPEC_GROUPS)[number];

type TopField = Exclude<keyof JobSpec, 'optimizer'>;
type OptimizerField = keyof OptimizerSpec;
/** A spec path: a top-level field, or `optimizer.<field>`. */
export type SpecPath = TopField | `optimizer.${OptimizerField}`;

const TOP: Record<TopField, SpecGroup> = {
  name: 'Job',
  description: 'Job',
  priority: 'Job',
  seed: 'Job',
  model: 'Model and data',
  dataset: 'Model and data',
  shardSize: 'Model and data',
  stages: 'Model and data',
  microbatches: 'Model and data',
  pipelineDepth: 'Model and data',
  maxWorkerParamBytes: 'Model and data',
  activationCodec: 'Model and data',
  batchSize: 'Worker exchange',
  nFetch: 'Worker exchange',
  nPush: 'Worker exchange',
  codec: 'Worker exchange',
  topkRatio: 'Worker exchange',
  mode: 'Consistency',
  maxStaleness: 'Consistency',
  backupWorkers: 'Consistency',
  roundTimeoutSeconds: 'Consistency',
  aggregation: 'Consistency',
  trimFraction: 'Consistency',
  localSteps: 'Consistency',
  outerLearningRate: 'Consistency',
  outerMomentum: 'Consistency',
  normBound: 'Robustness',
  directionThreshold: 'Robustness',
  rootSetSize: 'Robustness',
  trustedRefreshSeconds: 'Robustness',
  maxLeasesPerWorker: 'Robustness',
  leaseSeconds: 'Robustness',
  epochs: 'Schedule and stopping',
  targetAccuracy: 'Schedule and stopping',
  evalIntervalSeconds: 'Schedule and stopping',
  checkpointSeconds: 'Schedule and stopping',
};

/** Which optimizer types read each optimizer field (type and learning rate: all). */
const OPTIMIZER_USERS: Record<OptimizerField, readonly OptimizerType[] | 'all'> = {
  type: 'all',
  learningRate: 'all',
  momentum: ['momentum'],
  nesterov: ['momentum'],
  initialAccumulatorValue: ['adagrad'],
  beta1: ['adam'],
  beta2: ['adam'],
  epsilon: ['adam'],
};

export const SPEC_PATHS: readonly SpecPath[] = [
  ...(Object.keys(TOP) as TopField[]),
  ...(Object.keys(OPTIMIZER_USERS) as OptimizerField[]).map((f): SpecPath => `optimizer.${f}`),
];

export function groupOf(path: SpecPath): SpecGroup {
  return path.startsWith('optimizer.') ? 'Optimizer (parameter server)' : TOP[path as TopField];
}

export function valueAt(spec: JobSpec, path: SpecPath): unknown {
  return path.startsWith('optimizer.') ? spec.optimizer[path.slice('optimizer.'.length) as OptimizerField] : spec[path as TopField];
}

/** Why a field has no effect on this job, or null when it does. */
export function unusedBecause(spec: JobSpec, path: SpecPath): string | null {
  if (path.startsWith('optimizer.')) {
    const users = OPTIMIZER_USERS[path.slice('optimizer.'.length) as OptimizerField];
    return users === 'all' || users.includes(spec.optimizer.type) ? null : `not read by ${spec.optimizer.type}`;
  }
  if ((SPLIT_FIELDS as readonly string[]).includes(path) && spec.stages === 1) return 'not read with one stage';
  if (path === 'pipelineDepth' && MODES[spec.mode].rounds) return `not read by mode ${spec.mode} (each step waits for its round)`;
  if (path === 'topkRatio') return getCodec(spec.codec)?.sparse ? null : `not read by codec ${spec.codec}`;
  if ((MODE_SPEC_FIELDS as readonly string[]).includes(path)) {
    if (!modeReads(spec.mode, path as ModeSpecField)) return `not read by mode ${spec.mode}`;
    if (path === 'trimFraction' && !TRIMMING_AGGREGATIONS.includes(spec.aggregation)) return `not read by aggregation ${spec.aggregation}`;
  }
  return null;
}
