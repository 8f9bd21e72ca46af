/**
 * The job spec: what an operator asks the coordinator to train. Every field has a
 * documented default; unknown keys are refused so that a typo is an error, not a
 * silently ignored setting.
 */
import { z } from 'zod';
import { CODEC_IDS, DEFAULT_TOPK_RATIO, createCodec } from './codec.js';
import { formatIssues } from './issue-text.js';
import { defaultJobText } from './job-defaults.js';
import { CONSISTENCY_MODES, MODES, ROUND_MODES, type ModeSpecField, type ModeWorkerField } from './modes.js';
import { withPresetLearningRate } from './preset-optimizers.js';
import { MAX_STAGES } from './stage-plan.js';

/** Mini-batches a replica may keep in flight (pipelineDepth): each more is one more step of staleness and one more stashed parameter version per stage. */
export const MAX_PIPELINE_DEPTH = 4;
export const DEFAULT_PIPELINE_DEPTH = 3;

/** How activations and their gradients cross between stages (shared/activation-frame.ts). */
export const ACTIVATION_CODECS = ['fp32', 'fp16'] as const;
export type ActivationCodec = (typeof ACTIVATION_CODECS)[number];

export const OPTIMIZER_TYPES = ['sgd', 'momentum', 'adagrad', 'adam'] as const;
export type OptimizerType = (typeof OPTIMIZER_TYPES)[number];

/**
 * How a sync/local round's gradients are combined, coordinate by coordinate (see
 * README, Consistency modes):
 * - mean: their average (synchronous SGD).
 * - trimmed-mean: per coordinate, the t = floor(trimFraction · n) lowest and t highest
 *   of the round's n values are dropped and the rest averaged (Yin et al. 2018).
 * - median: per coordinate, the median (the mean of the two middle values when n is even).
 * - multi-krum: whole gradients: the f = floor(trimFraction · n) whose squared distances
 *   to their nearest neighbours are largest are dropped and the rest averaged
 *   (Blanchard et al. 2017).
 * The last three are the Byzantine defence of the round-based modes: a minority of
 * sign-flipped or scaled gradients cannot move the result far; only multi-krum keeps
 * a sign-flipped gradient out entirely (its norm and most coordinates look honest).
 */
export const AGGREGATIONS = ['mean', 'trimmed-mean', 'median', 'multi-krum'] as const;
export type AggregationName = (typeof AGGREGATIONS)[number];
/** The aggregations that read trimFraction. */
export const TRIMMING_AGGREGATIONS: readonly AggregationName[] = ['trimmed-mean', 'multi-krum'];

/**
 * Model presets; their Layers definitions are in shared/models.ts. mlp-large
 * (784-2048-2048-10, 5.8M parameters on MNIST) is more than one parameter-server task
 * holds: it needs ps tasks (docs/cluster.md).
 */
export const MODEL_PRESET_NAMES = ['mlp', 'cnn', 'mlp-large'] as const;
export type ModelPresetName = (typeof MODEL_PRESET_NAMES)[number];
/** A preset, or `custom`: an uploaded tfjs Layers topology. */
export const MODEL_NAMES = [...MODEL_PRESET_NAMES, 'custom'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Dataset names: the built-ins (mnist, fashion-mnist, iris) and operator uploads. */
export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;

export const optimizerSpecSchema = z
  .object({
    /** Update rule applied by the parameter server. Adagrad, as in Downpour. */
    type: z.enum(OPTIMIZER_TYPES).default('adagrad'),
    /** Step size. */
    learningRate: z.number().positive().max(10).default(0.05),
    /** momentum: decay of the velocity. */
    momentum: z.number().min(0).max(1).default(0.9),
    /** adagrad: starting value of the squared-gradient accumulator (tfjs's default). */
    initialAccumulatorValue: z.number().min(0).default(0.1),
    /** adam: first and second moment decay, and the denominator's epsilon. */
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    epsilon: z.number().positive().default(1e-7),
    /** momentum: Nesterov's look-ahead form (tf.train.momentum's useNesterov). */
    nesterov: z.boolean().default(false),
  })
  .strict();

export const jobSpecSchema = z
  .object({
    /** Shown to volunteers and operators. Default: named after the dataset (shared/job-defaults.ts), e.g. "MNIST digits". */
    name: z.string().min(1).max(120).optional(),
    /** The operator's words to volunteers: what this training is for. Default: a sentence about the dataset. */
    description: z.string().max(2000).optional(),
    /** Model preset (see shared/models.ts), or `custom` with an uploaded topology. */
    model: z.enum(MODEL_NAMES).default('cnn'),
    /** A built-in dataset (mnist, fashion-mnist, iris) or an uploaded one. */
    dataset: z.string().regex(DATASET_NAME_PATTERN, 'must be 1 to 40 lowercase letters, digits or dashes, not starting with a dash').default('mnist'),
    optimizer: optimizerSpecSchema.default(() => optimizerSpecSchema.parse({})),
    /** Examples per mini-batch on a worker. */
    batchSize: z.number().int().min(1).max(4096).default(64),
    /** A worker pulls fresh parameters every nFetch mini-batches (Downpour). */
    nFetch: z.number().int().min(1).max(1000).default(1),
    /** A worker pushes its accumulated gradient every nPush mini-batches (Downpour). */
    nPush: z.number().int().min(1).max(1000).default(1),
    /** Pushes whose base version is more than this many versions old are refused. */
    maxStaleness: z.number().int().min(0).max(1_000_000).default(32),
    /**
     * Gradient wire encoding, worker → server: fp32 (lossless), fp16, int8 (per block of
     * 256), topk (sparse) or topk-packed (sparse, index and value in one 32-bit word).
     * Lossy codecs keep an error-feedback residual on the worker.
     */
    codec: z.enum(CODEC_IDS).default('fp32'),
    /** topk, topk-packed: fraction of each tensor's entries sent per push, k = ceil(ratio · size). */
    topkRatio: z.number().positive().max(1).default(DEFAULT_TOPK_RATIO),
    /** Consistency mode (shared/modes.ts): async (Downpour), staleness-aware, sync or local (DiLoCo). */
    mode: z.enum(CONSISTENCY_MODES).default('async'),
    /** sync/local: a round closes once N − backupWorkers of its N workers pushed (backup workers). */
    backupWorkers: z.number().int().min(0).max(1000).default(0),
    /**
     * sync/local: a round that has at least one push closes with what it has after this
     * long, so a silent worker cannot stall the job. Below the worker's 30 s request
     * timeout, since the round's acks are held until it closes.
     */
    roundTimeoutSeconds: z.number().positive().max(25).default(10),
    /**
     * sync/local: how a round's gradients are combined: mean, trimmed-mean, median
     * (coordinate-wise) or multi-krum (whole gradients). Anything but mean is refused in async modes and with a sparse codec (topk, topk-packed).
     */
    aggregation: z.enum(AGGREGATIONS).default('mean'),
    /**
     * trimmed-mean: the fraction of a round's gradients dropped from each end, per
     * coordinate: t = floor(trimFraction · n) lowest and t highest. Below 0.5, so at
     * least one value always remains; 0 is the plain mean. multi-krum: the fraction of
     * whole gradients dropped, f = floor(trimFraction · n), capped so that n > 2f + 2.
     */
    trimFraction: z.number().min(0).lt(0.5).default(0.25),
    /** local: optimizer steps a worker takes on its own replica between pushes (H). */
    localSteps: z.number().int().min(1).max(10_000).default(8),
    /** local: the server's outer step size on the averaged delta (DiLoCo: 0.7). */
    outerLearningRate: z.number().positive().max(10).default(0.7),
    /** local: the outer Nesterov momentum (DiLoCo: 0.9). */
    outerMomentum: z.number().min(0).max(1).default(0.9),
    /** Training examples per data shard. */
    shardSize: z.number().int().min(1).max(100_000).default(1000),
    /**
     * The longest a worker keeps a lease once it is its oldest, and the time allowed
     * between pushes to a worker that reports no rate; a worker that reports one must push
     * at about that rate (see server/jobs/lease-terms.ts). A lease taken back returns its
     * untrained batches to the queue.
     */
    leaseSeconds: z.number().positive().max(3600).default(60),
    /** Leases one worker may hold at once (the browser engine holds two: the shard it trains and the next). */
    maxLeasesPerWorker: z.number().int().min(1).max(64).default(2),
    /** Seconds between evaluations of the current parameters on the test set. */
    evalIntervalSeconds: z.number().positive().max(86_400).default(15),
    /** The job is done after this many complete passes over the training set. */
    epochs: z.number().int().min(1).max(10_000).default(20),
    /** The job is also done once test accuracy reaches this, if set. */
    targetAccuracy: z.number().min(0).max(1).nullable().default(null),
    /** Workers go to the running job with the highest priority, then the fewest workers, then the oldest. */
    priority: z.number().int().min(-1000).max(1000).default(0),
    /**
     * Byzantine defence: a push whose gradient norm (per mini-batch) exceeds this many
     * times the median of the job's recent accepted pushes is refused (NORM_OUTLIER).
     * 0 turns the bound off.
     */
    normBound: z.number().min(0).max(1e6).default(10),
    /**
     * Byzantine defence against gradients that point the wrong way (a trusted direction,
     * as FLTrust; docs/byzantine.md): every trustedRefreshSeconds the parameter server
     * takes its own gradient on rootSetSize training examples at the current parameters,
     * and compares with it the pushes computed at nearly those parameters. A worker whose
     * last few compared gradients have a mean cosine with it below this threshold has its
     * pushes refused (DIRECTION_OUTLIER) until they no longer do. null turns the check
     * off. Local mode does not check (its pushes are parameter deltas, not gradients).
     */
    directionThreshold: z.number().min(-1).max(1).nullable().default(0),
    /** The root set the PS takes its own gradient on (trusted direction, norm bound reference): training examples drawn by the job's seed. */
    rootSetSize: z.number().int().min(16).max(10_000).default(1024),
    /**
     * Seconds between the PS's own gradients at the current parameters (one is skipped
     * while the last is still being computed). Both defences read them: the direction
     * check, and the norm bound, whose reference becomes the PS's norm per mini-batch
     * there so that it follows the model (taken when normBound > 0 even without the
     * direction check; not in local mode).
     */
    trustedRefreshSeconds: z.number().positive().max(3600).default(1),
    /** Seconds between checkpoints (taken only when the version moved). */
    checkpointSeconds: z.number().positive().max(86_400).default(30),
    /**
     * Model parallelism (docs/model-parallelism.md): each model replica spans this many
     * workers, one contiguous range of layers each, passing activations forward and their
     * gradients back. 1: every worker holds the whole model (data parallelism).
     */
    stages: z.number().int().min(1).max(MAX_STAGES).default(1),
    /** stages > 1: each mini-batch is cut into this many micro-batches that follow each other through the stages (GPipe); at most batchSize. */
    microbatches: z.number().int().min(1).max(4096).default(4),
    /**
     * stages > 1, in an async mode: the mini-batches stage 0 keeps in flight. Each step is
     * computed on parameters that lack at most pipelineDepth − 1 of its replica's own
     * steps (docs/model-parallelism.md, "Three mini-batches in flight"). 1: every step
     * waits for its commit; 2: one step stale (PipeDream-flush); 3 hides a step's commit
     * behind two mini-batches' work. A round mode (sync, local) always runs 1.
     */
    pipelineDepth: z.number().int().min(1).max(MAX_PIPELINE_DEPTH).default(DEFAULT_PIPELINE_DEPTH),
    /**
     * The most parameter bytes (fp32) one worker may hold; a model over it runs only
     * split into enough stages, and job creation says how many. null: no bound.
     */
    maxWorkerParamBytes: z.number().int().positive().nullable().default(null),
    /** stages > 1: the encoding of the activations and gradients sent between stages (fp16 scales gradients by their largest value). */
    activationCodec: z.enum(ACTIVATION_CODECS).default('fp32'),
    /** Seed for the initial parameters and the shard order. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.stages > 1 && spec.microbatches > spec.batchSize) {
      ctx.addIssue({ code: 'custom', path: ['microbatches'], message: `${spec.microbatches} micro-batches cannot be cut from a mini-batch of ${spec.batchSize}` });
    }
    if (spec.aggregation === 'mean') return;
    if (!MODES[spec.mode].rounds) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregation'],
        message: `${spec.aggregation} needs a round of gradients to aggregate: use mode ${ROUND_MODES.join(' or ')} (mode ${spec.mode} applies each push alone, with normBound as its Byzantine defence)`,
      });
    }
    // A coordinate that only a minority of workers chose to send is zero in the others' pushes: the median would drop nearly every update.
    if (createCodec(spec.codec).sparse) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregation'],
        message: `${spec.aggregation} needs dense gradients: with codec ${spec.codec} most coordinates are zero in most pushes, which robust aggregation reads as disagreement; use fp32, fp16 or int8`,
      });
    }
  })
  // The text defaults depend on the dataset, so they are filled once it is known.
  .transform((spec) => {
    const text = defaultJobText(spec.dataset);
    return { ...spec, name: spec.name ?? text.name, description: spec.description ?? text.description };
  });

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
export type OptimizerSpec = z.output<typeof optimizerSpecSchema>;
/** The spec fields whose meaning depends on the mode; compiles only while shared/modes.ts names real fields. */
export type ModeSettings = Pick<JobSpec, ModeSpecField | ModeWorkerField>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Parses operator input into a full spec; the message names every offending field. A
 * preset's own learning rate (shared/preset-optimizers.ts) fills an omitted one.
 */
export function parseJobSpec(input: unknown): ParseResult<JobSpec> {
  const r = jobSpecSchema.safeParse(withPresetLearningRate(input ?? {}));
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, message: formatIssues(r.error.issues) };
}

export { formatIssues };
