/**
 * The norm of a gradient the parameter server computes itself, at the initial
 * parameters on the first training mini-batch (per tensor, so that a split job's
 * stages each have their own: server/params/reference-norms.ts). It anchors the Byzantine norm bound from
 * the very first push: without it, a 100×-scaled push arriving before any honest one
 * could be accepted, and with Adagrad its squared gradient would shrink the step sizes
 * for the rest of the job.
 */
import { ModelTrainer } from '../../client/engine/model-trainer.js';
import { ErrorCode } from '../../shared/errors.js';
import { featureLength, featuresAsFloat, type Dataset } from '../data/dataset.js';
import { pieceSquares, ReferenceNorms, type TensorPiece } from '../params/reference-norms.js';
import { ModelSpecError, type InitialModel } from './model-init.js';

/**
 * The norms, or a ModelSpecError when this coordinator's tfjs backend cannot
 * differentiate the model (wasm has no gradient kernel for DepthwiseConv2D's filter or
 * Embedding's gather): the job is refused with the way out rather than a 500.
 * `pieces`: per ps task slice rather than per tensor (a job on ps tasks: each task is sent its slices' columns).
 */
export async function referenceGradientNorm(model: InitialModel, ds: Dataset, batchSize: number, pieces?: readonly TensorPiece[]): Promise<ReferenceNorms> {
  try {
    return await computeNorm(model, ds, batchSize, pieces);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ModelSpecError(`The coordinator cannot compute this model's gradient to anchor the norm bound (${reason}); create the job with normBound: 0`, ErrorCode.UNSUPPORTED_LAYER);
  }
}

async function computeNorm(model: InitialModel, ds: Dataset, batchSize: number, pieces?: readonly TensorPiece[]): Promise<ReferenceNorms> {
  const size = Math.min(batchSize, ds.train.count);
  const len = featureLength(ds);
  const first = { ...ds.train, count: size, features: ds.train.features.subarray(0, size * len), labels: ds.train.labels.subarray(0, size) };
  const trainer = await ModelTrainer.create(model.topology, model.tensors, ds.featureShape, ds.numClasses);
  try {
    trainer.setParams(model.values);
    const g = await trainer.gradient({ features: featuresAsFloat(ds, first), labels: first.labels, size });
    return new ReferenceNorms([pieceSquares(g.grads, pieces)]);
  } finally {
    trainer.dispose();
  }
}
