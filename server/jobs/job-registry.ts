/**
 * The coordinator's jobs and the policy that assigns workers to them: a worker goes
 * to the running job with the fewest workers (ties: the oldest job), so that several
 * running jobs share the volunteers evenly.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { fail, ok, type Result } from '../../shared/result.js';
import { totalSize } from '../../shared/tensors.js';
import { getDataset } from '../data/datasets.js';
import type { ShardStore } from '../data/shard-store.js';
import type { EvaluationService } from '../eval/evaluator.js';
import { Job } from './job.js';
import { buildInitialModel } from './model-init.js';

export interface JobRegistryDeps {
  shardStore: ShardStore;
  evaluation: EvaluationService;
  now: () => number;
  onStateChange: (job: Job) => void;
  /** Largest model (trainable parameters) a job may have. */
  maxParameters: number;
}

export class JobRegistry {
  private readonly jobs = new Map<string, Job>();
  private nextId = 1;

  constructor(private readonly deps: JobRegistryDeps) {}

  async create(spec: JobSpec): Promise<Result<{ job: Job }>> {
    const dataset = getDataset(spec.dataset);
    const model = await buildInitialModel(spec.model, dataset.featureShape, dataset.numClasses, spec.seed);
    const parameters = totalSize(model.tensors);
    if (parameters > this.deps.maxParameters) {
      return fail(ErrorCode.BAD_REQUEST, `Model has ${parameters} parameters; this coordinator accepts at most ${this.deps.maxParameters}`);
    }
    const shards = this.deps.shardStore.catalog(dataset, spec.shardSize);
    const id = `job-${this.nextId++}`;
    const job = new Job(id, spec, { ...this.deps, dataset, shards, model });
    this.jobs.set(id, job);
    job.start();
    return ok({ job });
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  /** The job a newly free worker should train, or null when nothing is running. */
  pickFor(): Job | null {
    let best: Job | null = null;
    for (const job of this.jobs.values()) {
      if (job.state !== 'running') continue;
      if (!best || job.workers.size < best.workers.size) best = job;
    }
    return best;
  }

  close(): void {
    for (const job of this.jobs.values()) job.stop();
  }
}
