/** Counters a job keeps for the API, the dashboard and the tests. */
import type { ErrorCode } from '../../shared/errors.js';

export interface JobStats {
  pushesAccepted: number;
  /** Accepted pushes the norm bound scaled down to it (server/params/norm-bound.ts: a warm worker's early transient); a replica step counts once. */
  pushesClipped: number;
  pushesRejected: Partial<Record<ErrorCode, number>>;
  /** Examples of accepted pushes, counted from their leases. */
  examplesSeen: number;
  /** Exponential moving average of the training loss workers report. */
  trainLoss: number | null;
  /** Gradient bytes received, as encoded by the job's codec. */
  bytesIn: number;
  /** What those gradients would have been as fp32: rawBytesIn / bytesIn is the compression ratio. */
  rawBytesIn: number;
  bytesOut: number;
  pulls: number;
  /** Pulls answered with a delta (shared/param-delta.ts) rather than every parameter. */
  deltaPulls: number;
  /** staleness → accepted pushes with that staleness. */
  staleness: Record<number, number>;
}

export function emptyStats(): JobStats {
  return { pushesAccepted: 0, pushesClipped: 0, pushesRejected: {}, examplesSeen: 0, trainLoss: null, bytesIn: 0, rawBytesIn: 0, bytesOut: 0, pulls: 0, deltaPulls: 0, staleness: {} };
}

export function countRejection(stats: JobStats, code: ErrorCode): void {
  stats.pushesRejected[code] = (stats.pushesRejected[code] ?? 0) + 1;
}

const LOSS_EMA = 0.05;

/** What an accepted push adds to the counters. */
export interface AcceptedPush {
  /** As the coordinator counts them (its lease's batches), never as the worker claims. */
  examples: number;
  loss: number | null;
  staleness: number;
  /** Its encoded bytes, and what they would have been as fp32. */
  bytes: number;
  rawBytes: number;
  /** The norm bound scaled it down. */
  clipped: boolean;
}

export function recordAccepted(stats: JobStats, { examples, loss, staleness, bytes, rawBytes, clipped }: AcceptedPush): void {
  stats.pushesAccepted += 1;
  if (clipped) stats.pushesClipped += 1;
  stats.examplesSeen += examples;
  stats.bytesIn += bytes;
  stats.rawBytesIn += rawBytes;
  stats.staleness[staleness] = (stats.staleness[staleness] ?? 0) + 1;
  if (loss !== null && Number.isFinite(loss)) stats.trainLoss = stats.trainLoss === null ? loss : stats.trainLoss + LOSS_EMA * (loss - stats.trainLoss);
}
