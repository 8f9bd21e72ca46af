/**
 * Every refusal that crosses the wire carries one of these codes. Codes are the
 * contract (tests, dashboards and workers switch on them); messages are for people.
 */
export const ErrorCode = {
  /** The payload does not match the event's schema. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The socket has not said `worker:hello` yet. */
  NOT_REGISTERED: 'NOT_REGISTERED',
  UNKNOWN_JOB: 'UNKNOWN_JOB',
  /** The job exists but is not accepting work (paused, done, failed). */
  JOB_NOT_RUNNING: 'JOB_NOT_RUNNING',
  UNKNOWN_CODEC: 'UNKNOWN_CODEC',
  /** Tensor names or count differ from the job's model. */
  TENSOR_MISMATCH: 'TENSOR_MISMATCH',
  SHAPE_MISMATCH: 'SHAPE_MISMATCH',
  DTYPE_MISMATCH: 'DTYPE_MISMATCH',
  /** Offsets/byte lengths disagree with the shapes or with the attached buffer. */
  BYTE_LENGTH_MISMATCH: 'BYTE_LENGTH_MISMATCH',
  /** The bytes are not a valid encoding in the job's codec (e.g. a top-k index out of range or repeated). */
  BAD_ENCODING: 'BAD_ENCODING',
  NON_FINITE: 'NON_FINITE',
  /** current version − base version exceeds the job's maxStaleness. */
  STALE: 'STALE',
  /** The base version is newer than anything the server has published. */
  FUTURE_VERSION: 'FUTURE_VERSION',
  /** sync/local modes: the gradient is for a round that has already closed (dropped and counted). */
  LATE: 'LATE',
  /** sync/local modes: this worker already pushed for the open round. */
  ALREADY_PUSHED: 'ALREADY_PUSHED',
  /** A push or completion names a lease this worker was never granted, or one already completed. */
  UNKNOWN_LEASE: 'UNKNOWN_LEASE',
  /** The lease was taken back (late, or the worker's pushes kept being refused): drop that shard and lease again. */
  LEASE_LOST: 'LEASE_LOST',
  /** The worker already holds the job's maxLeasesPerWorker leases: complete one first. */
  LEASE_LIMIT: 'LEASE_LIMIT',
  /** The worker's pushes were refused for faults several times in a row: it may not lease for a while. */
  WORKER_BARRED: 'WORKER_BARRED',
  /** A push claims a number of mini-batches other than what its lease has next for it. */
  BATCH_CLAIM: 'BATCH_CLAIM',
  /** The reported training loss is not a number a worker's cross-entropy can be (see server/jobs/training-loss.ts). */
  LOSS_OUT_OF_RANGE: 'LOSS_OUT_OF_RANGE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  INTERNAL: 'INTERNAL',
  /** The gradient's norm is far above the job's recent pushes (a Byzantine or broken worker). */
  NORM_OUTLIER: 'NORM_OUTLIER',
  /**
   * This worker's recent gradients point away from the parameter server's own gradient at
   * the same parameters (a sign-flipping or broken worker); see directionThreshold.
   */
  DIRECTION_OUTLIER: 'DIRECTION_OUTLIER',
  /** The socket sent more messages than its rate limit allows. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The client's address already holds the coordinator's cap of connections (server/http/connection-cap.ts). */
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  /** An event name the worker namespace does not know. */
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  /** An operator action without a valid operator token. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** No such job, dataset, checkpoint or route. */
  NOT_FOUND: 'NOT_FOUND',
  /** The request body's Content-Type, charset or Content-Encoding is not one the route reads. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** The action collides with the current state: a name taken, a dataset in use or built in. */
  CONFLICT: 'CONFLICT',
  /** A model over the coordinator's bounds (parameters, layers, activation size), refused before it is built. */
  MODEL_TOO_LARGE: 'MODEL_TOO_LARGE',
  /** A topology uses a layer the coordinator cannot size before building it, or cannot differentiate itself. */
  UNSUPPORTED_LAYER: 'UNSUPPORTED_LAYER',
  /** A ps task's control message from a chief epoch older than the newest the task has seen: a newer chief has taken over. */
  STALE_CHIEF: 'STALE_CHIEF',
  /**
   * The parameter server is past what it admits at once (server/params/push-admission.ts):
   * nothing changed, the push's lease and batches are untouched; send the same push again
   * after backing off (the refusal's retryAfterMs is the server's hint).
   */
  BUSY: 'BUSY',
  /** Model parallelism: the replica named is not this worker's (dissolved, or never its), or the worker is in no replica yet. */
  UNKNOWN_REPLICA: 'UNKNOWN_REPLICA',
  /** Model parallelism: the frame's addressee is not a neighbouring stage of the sender's replica, or the stage may not do this (only stage 0 leases). */
  NOT_A_PEER: 'NOT_A_PEER',
  /**
   * Model parallelism: a stage's push names another replica step than its next (every
   * stage counts its pushes from 0, one by one) or runs too far ahead of its replica's
   * other stages. Such a step could never be completed by the others: the replica is
   * dissolved and the fault is the stage's.
   */
  STEP_OUT_OF_ORDER: 'STEP_OUT_OF_ORDER',
  /** A job setting the coordinator cannot honour with its parameters on ps tasks (Multi-Krum over more than one task, the norm bound, the direction check). */
  PS_UNSUPPORTED: 'PS_UNSUPPORTED',
  /** A ps task did not answer the chief in time (down, or unreachable). */
  PS_TASK_UNREACHABLE: 'PS_TASK_UNREACHABLE',
  /** A push on ps tasks told the chief without every task's valid, unused receipt for it: nothing is credited. */
  BAD_RECEIPT: 'BAD_RECEIPT',
  /** A ps task was told to load a checkpoint part it does not have (never written there, or pruned). */
  CHECKPOINT_PART_MISSING: 'CHECKPOINT_PART_MISSING',
  /** A ps task's checkpoint part is damaged, or is not the part the chief's manifest names (its sha256 differs). */
  CHECKPOINT_PART_CORRUPT: 'CHECKPOINT_PART_CORRUPT',
  /** A ps task could not write its checkpoint part (no data directory, a full disk, another write of the job under way). */
  CHECKPOINT_WRITE_FAILED: 'CHECKPOINT_WRITE_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ALL_ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);
