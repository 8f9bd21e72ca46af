/**
 * A checkpoint (.dpck) as a tfjs model. A checkpoint is the coordinator's restore
 * point: parameters, optimizer state and data progress, with no topology and no tensor
 * names, so it is not a model by itself. The topology and names come either from a
 * model.json of the same job (the dashboard's download, or GET /api/jobs/:id/model) or
 * from the coordinator's data dir (the SQLite job store, the dataset, the preset).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseJobSpec } from '../../shared/job-spec.js';
import { FeatureEncoding } from '../../shared/shard-format.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { decodeCheckpoint, type CheckpointContent } from '../checkpoints/checkpoint-format.js';
import { MAX_MODEL_PARAMETERS } from '../coordinator.js';
import { DatasetRegistry } from '../data/datasets.js';
import { buildInitialModel } from '../jobs/model-init.js';
import type { ModelMetadata, ModelSource } from '../http/model-export.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';

export interface CheckpointModelOptions {
  /** A model.json of the job, or the folder holding it. Default: look the job up in the data dir. */
  model?: string;
  /** The coordinator's data dir. Default: the one the checkpoint lies in (<dataDir>/checkpoints/<job>/<file>). */
  dataDir?: string;
}

export class ConvertError extends Error {
  override name = 'ConvertError';
}

export async function checkpointModel(file: string, options: CheckpointModelOptions = {}): Promise<ModelSource> {
  let content: CheckpointContent;
  try {
    content = decodeCheckpoint(readFileSync(file));
  } catch (err) {
    throw new ConvertError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (content.cut) {
    // Its values are in the parts on the ps tasks' disks, which this file only names.
    throw new ConvertError(`${file} is a cut over ps tasks: a manifest of the parts on the tasks, with no values; export the model from the coordinator running the job (GET /api/jobs/${content.jobId}/model)`);
  }
  const source = options.model ? fromModelJson(content, options.model) : await fromDataDir(content, options.dataDir ?? resolve(dirname(file), '..', '..'));
  const values = content.store.tensors.map((t) => t.values);
  if (values.length !== source.specs.length) throw new ConvertError(`the checkpoint has ${values.length} tensors, the model ${source.specs.length}`);
  source.specs.forEach((s, i) => {
    if (values[i]!.length !== sizeOf(s.shape)) throw new ConvertError(`tensor ${s.name} [${s.shape}] has ${values[i]!.length} values in the checkpoint`);
  });
  return { ...source, values };
}

function fromModelJson(content: CheckpointContent, path: string): Omit<ModelSource, 'values'> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.json') : path;
  let json: { modelTopology?: object; weightsManifest?: { weights: { name: string; shape: number[] }[] }[]; userDefinedMetadata?: Partial<ModelMetadata> };
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConvertError(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new ConvertError(`${file} is not a tfjs Layers model.json`);
  const meta = json.userDefinedMetadata ?? {};
  if (meta.jobId && meta.jobId !== content.jobId) throw new ConvertError(`${file} is job ${meta.jobId}'s model; the checkpoint is job ${content.jobId}'s`);
  const specs: TensorSpec[] = json.weightsManifest.flatMap((g) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
  const inputShape = meta.inputShape ?? [];
  return {
    jobId: content.jobId,
    jobName: meta.jobName ?? content.jobId,
    version: content.store.version,
    topology: json.modelTopology,
    specs,
    dataset: {
      name: meta.dataset ?? 'unknown',
      featureShape: inputShape,
      numClasses: meta.classNames?.length ?? 0,
      ...(meta.classNames ? { classNames: meta.classNames } : {}),
      encoding: meta.inputScaling?.divideBy === 255 ? FeatureEncoding.UINT8_UNIT : FeatureEncoding.FLOAT32,
      testCount: meta.testExamples ?? 0,
    },
    // The model.json's evaluation scored another version, unless it says this one.
    lastEval: meta.lastEval && meta.lastEval.version === content.store.version ? meta.lastEval : null,
  };
}

async function fromDataDir(content: CheckpointContent, dataDir: string): Promise<Omit<ModelSource, 'values'>> {
  const dbPath = join(dataDir, 'downpour.sqlite');
  if (!existsSync(dbPath)) {
    throw new ConvertError(`no job store at ${dbPath}: pass the job's model.json (--model), or the coordinator's data dir (--data-dir)`);
  }
  const db = new SqliteJobStore(dbPath);
  try {
    const stored = db.listJobs().find((j) => j.id === content.jobId);
    if (!stored) throw new ConvertError(`job ${content.jobId} is not in ${dbPath} (deleted?): pass its model.json with --model`);
    const spec = parseJobSpec(stored.spec);
    if (!spec.ok) throw new ConvertError(`job ${content.jobId}'s stored spec is not valid here: ${spec.message}`);
    const ds = new DatasetRegistry(join(dataDir, 'datasets')).get(spec.value.dataset);
    const model = await buildInitialModel(spec.value.model, stored.topology, ds.featureShape, ds.numClasses, spec.value.seed, MAX_MODEL_PARAMETERS);
    return {
      jobId: content.jobId,
      jobName: spec.value.name,
      version: content.store.version,
      topology: model.topology,
      specs: model.tensors,
      dataset: { ...ds, testCount: ds.test.count },
      lastEval: db.evals(content.jobId).find((e) => e.version === content.store.version) ?? null,
    };
  } finally {
    db.close();
  }
}
