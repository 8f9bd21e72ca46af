/**
 * The trained model in the tfjs Layers format that stock `tf.loadLayersModel` reads:
 * model.json (topology + weights manifest) and one binary weights file. The manifest
 * names `weights.bin` relative to model.json, as `tf.io` expects of files saved side by
 * side; the routes serve it where that relative path resolves.
 *
 * The dashboard downloads one zip (modelArchive) rather than the two loose files: a
 * browser renames a second `weights.bin` to `weights (1).bin` while its model.json
 * still names `weights.bin`, so the pair no longer loads; inside an archive the names
 * always match. model.json's userDefinedMetadata says what a user needs to feed the
 * model: classes, input shape and scaling, dataset, version and test accuracy. The
 * same files are made from a checkpoint by `npm run convert-checkpoint`.
 */
import type { EvalRecord } from '../../shared/protocol.js';
import { FeatureEncoding } from '../../shared/shard-format.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { classNamesOf, type Dataset } from '../data/dataset.js';
import type { Job } from '../jobs/job.js';
import { jobFileStem } from './file-names.js';
import { zip } from './zip.js';

/** What an export is made of: a job's current parameters, or a checkpoint's (server/export/checkpoint-model.ts). */
export interface ModelSource {
  jobId: string;
  jobName: string;
  /** Parameter version of `values`. */
  version: number;
  topology: object;
  specs: readonly TensorSpec[];
  values: readonly Float32Array[];
  dataset: Pick<Dataset, 'name' | 'featureShape' | 'numClasses' | 'classNames' | 'encoding'> & { testCount: number };
  /** The last evaluation (of `version` or an earlier one), if any. */
  lastEval: EvalRecord | null;
}

export function sourceOfJob(job: Job): ModelSource {
  const ds = job.dataset;
  return {
    jobId: job.id,
    jobName: job.spec.name,
    version: job.store.version,
    topology: job.topology,
    specs: job.store.specs,
    values: job.store.tensors.map((t) => t.values),
    dataset: { ...ds, testCount: ds.test.count },
    lastEval: job.evals.at(-1) ?? null,
  };
}

/** What model.json's userDefinedMetadata holds (tf `model.getUserDefinedMetadata()`). */
export interface ModelMetadata {
  jobId: string;
  jobName: string;
  /** Parameter version the weights are from. */
  version: number;
  dataset: string;
  /** One example's shape; the model takes [batch, ...inputShape]. */
  inputShape: number[];
  /** How a raw example becomes the model's input: divide every value by `divideBy`. */
  inputScaling: { divideBy: number; description: string };
  /** Output i is the probability of classNames[i] (softmax). */
  classNames: string[];
  /** Accuracy of the last evaluation on the dataset's test split, and the version it scored. */
  testAccuracy: number | null;
  testLoss: number | null;
  evaluatedVersion: number | null;
  testExamples: number;
  lastEval: EvalRecord | null;
}

export function modelMetadata(src: ModelSource): ModelMetadata {
  const ds = src.dataset;
  const last = src.lastEval;
  const bytes = ds.encoding === FeatureEncoding.UINT8_UNIT;
  return {
    jobId: src.jobId,
    jobName: src.jobName,
    version: src.version,
    dataset: ds.name,
    inputShape: [...ds.featureShape],
    inputScaling: bytes
      ? { divideBy: 255, description: 'pixel bytes 0–255 divided by 255, so inputs lie in [0, 1]' }
      : { divideBy: 1, description: 'feature values as they are in the dataset, unscaled' },
    classNames: classNamesOf(ds),
    testAccuracy: last?.accuracy ?? null,
    testLoss: last?.loss ?? null,
    evaluatedVersion: last?.version ?? null,
    testExamples: ds.testCount,
    lastEval: last,
  };
}

export function modelJson(src: ModelSource, weightsPath = 'weights.bin'): object {
  return {
    format: 'layers-model',
    generatedBy: 'Downpour',
    convertedBy: null,
    modelTopology: src.topology,
    weightsManifest: [
      {
        paths: [weightsPath],
        weights: src.specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: 'float32' })),
      },
    ],
    userDefinedMetadata: modelMetadata(src),
  };
}

export function weightsBin(src: ModelSource): Buffer {
  return Buffer.concat(src.values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

/** `mnist-digits-job-3-v1234`: the job's name, id and version, safe as a file name anywhere. */
export function modelBaseName(src: ModelSource): string {
  return `${jobFileStem(src.jobName, src.jobId)}-v${src.version}`;
}

/**
 * One zip holding a folder named after the job and version, with model.json,
 * weights.bin and a README on using them. Built synchronously from the parameters, so
 * the weights and the metadata are of the same version.
 */
export function modelArchive(src: ModelSource, now: Date): { filename: string; data: Buffer } {
  const base = modelBaseName(src);
  const files = modelFiles(src).map((f) => ({ name: `${base}/${f.name}`, data: f.data }));
  return { filename: `${base}.zip`, data: zip(files, now) };
}

/** model.json, weights.bin and README.txt, to be kept side by side. */
export function modelFiles(src: ModelSource): { name: string; data: Buffer }[] {
  return [
    { name: 'model.json', data: Buffer.from(JSON.stringify(modelJson(src)), 'utf8') },
    { name: 'weights.bin', data: weightsBin(src) },
    { name: 'README.txt', data: Buffer.from(readme(modelMetadata(src)), 'utf8') },
  ];
}

function readme(m: ModelMetadata): string {
  const accuracy =
    m.testAccuracy === null
      ? 'not evaluated yet'
      : `${(m.testAccuracy * 100).toFixed(2)} % on ${m.testExamples} test examples (version ${m.evaluatedVersion}${m.evaluatedVersion === m.version ? '' : `; these weights are version ${m.version}`})`;
  return [
    `${m.jobName}: job ${m.jobId}, parameter version ${m.version}, trained by Downpour on "${m.dataset}".`,
    '',
    'model.json   the tfjs Layers topology and weights manifest (it names weights.bin beside it)',
    'weights.bin  the float32 weights',
    '',
    `Input:  float32, shape [batch, ${m.inputShape.join(', ')}]: ${m.inputScaling.description}.`,
    `Output: softmax probabilities over ${m.classNames.length} classes, in this order:`,
    `        ${m.classNames.map((c, i) => `${i}: ${c}`).join(', ')}`,
    `Test accuracy: ${accuracy}.`,
    '',
    'TensorFlow.js, with both files served side by side over HTTP:',
    "  const model = await tf.loadLayersModel('https://example.org/models/model.json');",
    'or picked by the user in a browser:',
    '  const model = await tf.loadLayersModel(tf.io.browserFiles([modelJsonFile, weightsBinFile]));',
    `  const probs = model.predict(tf.tensor(example, [1, ${m.inputShape.join(', ')}])${m.inputScaling.divideBy === 1 ? '' : `.div(${m.inputScaling.divideBy})`});`,
    'model.getUserDefinedMetadata() returns the facts above (classNames, inputShape, inputScaling, testAccuracy).',
    '',
    'Keras (Python): pip install tensorflowjs, then',
    '  tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras model.json model.h5',
    '',
  ].join('\n');
}
