/**
 * "Clone with changes": the job a create form was prefilled from. The form has inputs
 * for the common settings; the others (seed, shardSize, normBound, the optimizer's
 * betas…) are carried from the source job into the new spec, so a clone never drops a
 * setting silently, and the form says which ones it carries.
 */
import { jobSpecSchema, type JobSpec, type JobSpecInput } from '../../shared/job-spec.js';
import { SPEC_PATHS, valueAt, type SpecPath } from './spec-fields.js';

export interface CloneSource {
  jobId: string;
  jobName: string;
  spec: JobSpec;
  /** A custom model's topology (from the job's model.json), used unless the operator picks a file. */
  topology: object | null;
}

/** The source's settings at `paths` the form has no input for, as a partial spec. */
export function carriedSettings(spec: JobSpec, formPaths: readonly string[]): Partial<JobSpecInput> {
  const out: Record<string, unknown> = {};
  const optimizer: Record<string, unknown> = {};
  for (const path of carriedPaths(formPaths)) {
    const value = valueAt(spec, path);
    if (path.startsWith('optimizer.')) optimizer[path.slice('optimizer.'.length)] = value;
    else out[path] = value;
  }
  if (Object.keys(optimizer).length) out.optimizer = optimizer;
  return out as Partial<JobSpecInput>;
}

function carriedPaths(formPaths: readonly string[]): SpecPath[] {
  return SPEC_PATHS.filter((p) => !formPaths.includes(p));
}

/** "seed 7, shardSize 500" for the carried settings that differ from the defaults; '' when all are defaults. */
export function describeCarried(spec: JobSpec, formPaths: readonly string[]): string {
  const defaults = jobSpecSchema.parse({ dataset: spec.dataset });
  return carriedPaths(formPaths)
    .filter((p) => JSON.stringify(valueAt(spec, p)) !== JSON.stringify(valueAt(defaults, p)))
    .map((p) => `${p} ${String(valueAt(spec, p))}`)
    .join(', ');
}
