/**
 * What job creation checks of a model that is to be split into stages (model
 * parallelism, docs/model-parallelism.md), from its topology's census: refusals that
 * would otherwise fail in every tab of every replica. Returns the layers' costs, which
 * the job's ReplicaBoard plans its replicas with.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { layerCosts, stagesNeeded, type LayerCost } from '../../shared/stage-plan.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { tensorsOfLayers } from './replica-board.js';
import { ModelSpecError } from './model-init.js';
import { TopologyRefusal } from './topology/layer-config.js';
import { censusOf } from './topology/topology-census.js';

/**
 * Layers that draw random numbers in training: a stage recomputes its forward pass
 * when the gradient comes back (re-materialisation), and the two draws would differ.
 */
export const RANDOM_LAYERS: ReadonlySet<string> = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

const isSequential = (topology: object): boolean => {
  const t = topology as Record<string, unknown>;
  const model = (typeof t.model_config === 'object' && t.model_config !== null ? t.model_config : t) as Record<string, unknown>;
  return model.class_name === 'Sequential';
};

/**
 * The model's layer costs when the job splits it (stages > 1) or bounds a worker's
 * parameter bytes, else null; throws a ModelSpecError with its code when the split
 * cannot work: a functional graph, more stages than layers, a layer that draws random
 * numbers, or a model that needs more stages than asked for under maxWorkerParamBytes.
 * The last refusals name `stages` or `maxWorkerParamBytes` as their field, the rest `model`.
 */
export function stageCostsOf(spec: JobSpec, topology: object, featureShape: readonly number[], tensors: readonly TensorSpec[]): LayerCost[] | null {
  if (spec.stages === 1 && spec.maxWorkerParamBytes === null) return null;
  const split = spec.stages > 1;
  if (split && !isSequential(topology)) {
    throw new ModelSpecError('only a Sequential model can be split into stages (a functional graph would need each cut to cross exactly one tensor)');
  }
  let costs: LayerCost[];
  try {
    const census = censusOf(topology);
    const r = layerCosts(census.trace, featureShape);
    if (!r.ok) throw new ModelSpecError(r.message, r.code);
    costs = r.costs;
    const random = census.trace.find((l) => RANDOM_LAYERS.has(l.className));
    if (split && random) {
      throw new ModelSpecError(
        `layer "${random.name}" (${random.className}) draws random numbers in training: a stage runs its forward pass twice (re-materialisation) and the draws would differ; remove it or train with stages: 1`,
        ErrorCode.UNSUPPORTED_LAYER,
      );
    }
  } catch (err) {
    if (err instanceof TopologyRefusal) throw new ModelSpecError(err.message, err.code);
    throw err;
  }
  // A stage pulls and pushes the tensors named after its layers: every tensor must be some layer's.
  const owned = new Set(tensorsOfLayers(costs, tensors, 0, costs.length));
  const stray = tensors.find((t) => !owned.has(t.name));
  if (split && stray) throw new ModelSpecError(`tensor "${stray.name}" is named after no layer of the model, so no stage would hold it`);
  if (spec.stages > costs.length) {
    throw new ModelSpecError(`${spec.stages} stages asked for, but the model has ${costs.length} layers: a stage needs at least one`, ErrorCode.BAD_REQUEST, 'stages');
  }
  if (spec.maxWorkerParamBytes !== null) {
    const needed = stagesNeeded(costs, spec.maxWorkerParamBytes);
    // A layer over the budget alone cannot be split off: the budget is what to change.
    if (!needed.ok) throw new ModelSpecError(needed.message, needed.code, 'maxWorkerParamBytes');
    if (needed.stages > spec.stages) {
      const bytes = costs.reduce((n, c) => n + c.paramBytes, 0);
      throw new ModelSpecError(
        `the model holds ${bytes} parameter bytes, over maxWorkerParamBytes ${spec.maxWorkerParamBytes} per worker: it needs at least ${needed.stages} stages (the job asks for ${spec.stages})`,
        ErrorCode.MODEL_TOO_LARGE,
        'stages',
      );
    }
  }
  return costs;
}
