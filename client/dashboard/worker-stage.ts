/**
 * The Workers table's Stage cell: which replica and stage a split job's worker holds,
 * counted from 1 as the Replicas table counts them ("r2 · 1 of 2"), so a slow worker can
 * be found there; "waiting" while it waits for a replica; "—" when it has no place (a
 * data-parallel job, no job, a split job that is not running).
 */
import type { WorkerView } from '../../shared/operator-protocol.js';

export function stageText(stage: WorkerView['stage']): string {
  if (stage === null) return '—';
  if (stage === 'waiting') return 'waiting';
  return `${stage.replicaId} · ${stage.stage + 1} of ${stage.of}`;
}
