/**
 * The trained model in the tfjs Layers format that stock `tf.loadLayersModel` reads:
 * model.json (topology + weights manifest) and one binary weights file. The manifest
 * names `weights.bin` relative to model.json, as `tf.io` expects of files saved side by
 * side; the routes serve it where that relative path resolves.
 */
import type { Job } from '../jobs/job.js';

export function modelJson(job: Job, weightsPath = 'weights.bin'): object {
  return {
    format: 'layers-model',
    generatedBy: 'Downpour',
    convertedBy: null,
    modelTopology: job.topology,
    weightsManifest: [
      {
        paths: [weightsPath],
        weights: job.store.specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' })),
      },
    ],
    userDefinedMetadata: { jobId: job.id, version: job.store.version, lastEval: job.evals.at(-1) ?? null },
  };
}

export function weightsBin(job: Job): Buffer {
  const parts = job.store.tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength));
  return Buffer.concat(parts);
}
