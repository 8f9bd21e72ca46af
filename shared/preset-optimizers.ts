/**
 * Learning rates a preset trains better with than the optimizer schema's default,
 * filled in where a job spec names the preset, keeps the preset's optimizer type and
 * leaves the learning rate out. An operator's own rate always wins.
 *
 * mlp-large: Adagrad at the schema's 0.05 moves each of its 5.8M weights by up to
 * ~0.05 per push, sign-like at first; over a 2048-wide layer that swamps the signal,
 * and on 2 ps tasks it plateaued at 0.73–0.79 test accuracy (docs/cluster.md,
 * "mlp-large"). The rate below won a sweep in Node (same Adagrad, batch 64, one push
 * per batch, each gradient one step stale as two async workers make it).
 */
import type { ModelName, OptimizerType } from './job-spec.js';

export const PRESET_OPTIMIZERS: Partial<Record<ModelName, { type: OptimizerType; learningRate: number }>> = {
  'mlp-large': { type: 'adagrad', learningRate: 0.01 },
};

/** The spec's default optimizer type, as the schema fills it (a test ties the two). */
const SCHEMA_DEFAULT_TYPE: OptimizerType = 'adagrad';

/**
 * `input` with the preset's learning rate filled in where that applies; otherwise
 * `input` itself. Never mutates it; anything that is not a plain spec object passes
 * through for the schema to judge.
 */
export function withPresetLearningRate(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const spec = input as { model?: unknown; optimizer?: unknown };
  const preset = typeof spec.model === 'string' ? PRESET_OPTIMIZERS[spec.model as ModelName] : undefined;
  if (!preset) return input;
  const given = spec.optimizer ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return input;
  const optimizer = given as { type?: unknown; learningRate?: unknown };
  if (optimizer.learningRate !== undefined || (optimizer.type ?? SCHEMA_DEFAULT_TYPE) !== preset.type) return input;
  return { ...spec, optimizer: { ...optimizer, learningRate: preset.learningRate } };
}
