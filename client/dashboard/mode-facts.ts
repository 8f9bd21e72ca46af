/**
 * The job's consistency mode as the operator reads it, and in a round mode its rounds.
 * A split job's round members are its replicas, not its workers (a replica's stages
 * push one step together: docs/model-parallelism.md, "Split jobs in round modes"), so
 * its backups and members are counted in replicas.
 */
import type { JobSpec } from '../../shared/job-spec.js';
import type { RoundsView } from '../../shared/operator-protocol.js';
import { countOf } from '../../shared/plural.js';
import { fmtInt } from './format.js';

/** The job's consistency mode and the parameters that matter for it. */
export function describeMode(spec: JobSpec): string {
  switch (spec.mode) {
    case 'async':
      return `async (Downpour), max staleness ${spec.maxStaleness}`;
    case 'staleness-aware':
      return `staleness-aware (lr ÷ staleness), max staleness ${spec.maxStaleness}`;
    case 'sync':
      return `sync, ${countOf(spec.backupWorkers, `backup ${memberNoun(spec)}`)}, ${describeAggregation(spec)}`;
    case 'local':
      return `local (DiLoCo): ${spec.localSteps} local steps, outer Nesterov lr ${spec.outerLearningRate}, momentum ${spec.outerMomentum}, ${countOf(spec.backupWorkers, `backup ${memberNoun(spec)}`)}, ${describeAggregation(spec)}`;
  }
}

/** "40 closed (0 by their deadline); a round waits for 1 replica: r1". */
export function describeRounds(spec: JobSpec, rounds: RoundsView): string {
  const closed = `${fmtInt(rounds.closed)} closed (${fmtInt(rounds.timedOut)} by their deadline)`;
  const n = rounds.members.length;
  if (n === 0) return `${closed}; a round waits for no ${memberNoun(spec)} now (none is training)`;
  // Replicas are few and named in the Replicas table; workers can be many and are in the Workers table.
  const members = spec.stages > 1 ? `${countOf(n, 'replica')}: ${rounds.members.join(', ')}` : countOf(n, 'worker', 'workers', fmtInt);
  return `${closed}; a round waits for ${members}`;
}

function memberNoun(spec: JobSpec): string {
  return spec.stages > 1 ? 'replica' : 'worker';
}

/** How a round's gradients are combined. */
function describeAggregation(spec: JobSpec): string {
  switch (spec.aggregation) {
    case 'mean':
      return 'mean of the round';
    case 'trimmed-mean':
      return `trimmed mean (${spec.trimFraction} dropped per end, per coordinate)`;
    case 'median':
      return 'coordinate-wise median';
    case 'multi-krum':
      return `Multi-Krum (the ${spec.trimFraction} of gradients farthest from their neighbours dropped)`;
  }
}
