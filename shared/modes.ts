/**
 * The consistency modes, each described once (see README, Consistency modes). What
 * depends on a mode derives from this table: the spec's enum and its aggregation
 * check (shared/job-spec.ts), the wire type of JobAssignment['mode'] and what the Job
 * puts in it, the dashboard's mode hint and which form fields it shows and sends.
 * The server's registry (server/consistency/registry.ts) and the worker's
 * createExchange (client/engine/create-exchange.ts) are keyed by these names, so a new
 * mode does not compile until each side implements it.
 *
 * A leaf module: JobSpec imports it, so the field names below are checked against
 * JobSpec there (ModeSettings) rather than imported from it.
 */

/** Spec fields that only some modes read. */
export type ModeSpecField =
  | 'maxStaleness'
  | 'backupWorkers'
  | 'roundTimeoutSeconds'
  | 'aggregation'
  | 'trimFraction'
  | 'localSteps'
  | 'outerLearningRate'
  | 'outerMomentum';

/** Spec fields a mode may pass on to its workers. */
export type ModeWorkerField = 'backupWorkers' | 'localSteps' | 'optimizer';

export interface ModeDescriptor {
  /**
   * Gathers a round of gradients, one per worker for each version, and applies their
   * combination once; otherwise each push is applied as it arrives.
   */
  readonly rounds: boolean;
  /** The mode-specific spec fields it reads: the dashboard offers (and sends) only these. */
  readonly specFields: readonly ModeSpecField[];
  /** The spec fields its workers are told, in this order, in JobAssignment.mode. */
  readonly workerFields: readonly ModeWorkerField[];
  /** Its line in the dashboard's hint. */
  readonly description: string;
}

/** What every round mode reads: a round's quorum, deadline and aggregation rule. */
const ROUND_FIELDS = ['backupWorkers', 'roundTimeoutSeconds', 'aggregation', 'trimFraction'] as const;

export const MODES = {
  /** Downpour (Dean et al. 2012): every push at most maxStaleness versions old is applied at once. */
  async: {
    rounds: false,
    specFields: ['maxStaleness'],
    workerFields: [],
    description: 'Downpour.',
  },
  /** Async with the learning rate divided by the push's staleness (Zhang et al. 2016). */
  'staleness-aware': {
    rounds: false,
    specFields: ['maxStaleness'],
    workerFields: [],
    description: 'learning rate ÷ staleness.',
  },
  /** One gradient per active worker (or N − backupWorkers) per version, combined and applied once. */
  sync: {
    rounds: true,
    specFields: ROUND_FIELDS,
    workerFields: ['backupWorkers'],
    description: 'one gradient per worker per version, combined (averaged by default).',
  },
  /**
   * Local SGD / DiLoCo (Douillard et al. 2023): workers take localSteps steps with
   * their own optimizer and push parameter deltas, gathered like sync and applied by
   * an outer Nesterov step.
   */
  local: {
    rounds: true,
    specFields: [...ROUND_FIELDS, 'localSteps', 'outerLearningRate', 'outerMomentum'],
    workerFields: ['backupWorkers', 'localSteps', 'optimizer'],
    description: 'DiLoCo, workers take local steps with the optimizer above and the server applies an outer Nesterov step.',
  },
} as const satisfies Record<string, ModeDescriptor>;

export type ConsistencyModeName = keyof typeof MODES;
/** The mode names in the table's order (the spec's enum, the dashboard's options). */
export const CONSISTENCY_MODES = Object.keys(MODES) as [ConsistencyModeName, ...ConsistencyModeName[]];
/** Modes with rounds of gradients to aggregate; the others apply each push alone. */
export const ROUND_MODES: readonly ConsistencyModeName[] = CONSISTENCY_MODES.filter((m) => MODES[m].rounds);
/** The spec fields mode M's workers are told. */
export type WorkerFieldsOf<M extends ConsistencyModeName> = (typeof MODES)[M]['workerFields'][number];

/** Every spec field some mode reads, in the table's order. */
export const MODE_SPEC_FIELDS: readonly ModeSpecField[] = [...new Set(CONSISTENCY_MODES.flatMap((m): readonly ModeSpecField[] => MODES[m].specFields))];

/** Whether `mode` reads spec field `field` (the dashboard shows the field only then). */
export function modeReads(mode: ConsistencyModeName, field: ModeSpecField): boolean {
  const fields: readonly ModeSpecField[] = MODES[mode].specFields;
  return fields.includes(field);
}
