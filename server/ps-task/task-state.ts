/** What a ps task's two namespaces share: its jobs, its chief fence and its keys. */
import type { ChiefFence } from '../cluster/chief-fence.js';
import type { ClusterKeys } from '../cluster/cluster-keys.js';
import type { ApplySettings } from '../params/apply-engine.js';
import type { PushAdmission } from '../params/push-admission.js';
import type { PushSlots } from '../params/push-slots.js';
import type { CheckpointParts } from './checkpoint-parts.js';
import type { TaskJob } from './task-job.js';

export interface PsTaskState {
  /** Written by the chief's channel only (job:create, job:delete); workers read. */
  readonly jobs: Map<string, TaskJob>;
  readonly fence: ChiefFence;
  readonly keys: ClusterKeys;
  /** The task's clock: ticket expiry, rate limits. */
  readonly now: () => number;
  readonly apply: ApplySettings | undefined;
  /** The task's bound on pushes it takes at once, over all its jobs (BUSY beyond it). */
  readonly admission: PushAdmission;
  /** The task's push slots, over all its jobs: under load a payload comes only with a grant (refused before its bytes arrive). */
  readonly slots: PushSlots;
  /** Where this task writes its parts of checkpoints; null: started without a data directory, it writes none. */
  readonly parts: CheckpointParts | null;
}
