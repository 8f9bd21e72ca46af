/**
 * What a worker of a job moves on the network, estimated before it starts, for the
 * volunteer page's "about N MB per hour" (the engine's traffic meter gives the real
 * figure once it trains). Per mini-batch: 1/nPush of a push in the job's codec, 1/nFetch
 * of a pull, and the batch's examples from the shard download; per hour at a rate.
 *
 * Pulls: a full pull is every parameter as fp32. With a sparse codec under an optimizer
 * whose updates are as sparse as the gradients (sgd, adagrad), the coordinator sends a
 * delta instead when it is smaller (shared/param-delta.ts): 8 bytes per entry changed
 * since the worker's version, at most the k entries of each push it applied meanwhile,
 * from every worker (workers × nFetch/nPush pushes between two pulls of one worker).
 * Socket.io and WebSocket framing (~100 bytes a message) and TCP/IP (~7 %) are added
 * as the engine's meter and the data cap count them.
 */
import type { CodecId } from './codecs/types.js';

export interface WireFacts {
  codec: CodecId;
  /** topk, topk-packed: fraction of entries per push. */
  topkRatio: number;
  nPush: number;
  nFetch: number;
  batchSize: number;
  /** Bytes of one training example in a shard download. */
  bytesPerExampleOfData: number;
  /** The optimizer moves only the entries a gradient carries (sgd, adagrad): pulls may be deltas. */
  sparseUpdates: boolean;
}

/** Bytes of one push of `parameters` values in `codec`. */
export function pushBytes(parameters: number, codec: CodecId, topkRatio: number): number {
  switch (codec) {
    case 'fp32':
      return 4 * parameters;
    case 'fp16':
      return 2 * parameters;
    case 'int8':
      return parameters + Math.ceil(parameters / 256) * 4; // a float32 scale per block of 256
    case 'topk':
      return 8 * Math.ceil(topkRatio * parameters); // index and value
    case 'topk-packed':
      return 4 * Math.ceil(topkRatio * parameters); // index and value in one word
    default: {
      const unknown: never = codec;
      throw new Error(`no size for codec ${String(unknown)}`);
    }
  }
}

const SPARSE: ReadonlySet<CodecId> = new Set(['topk', 'topk-packed']);
/** Socket.io's event, ack id and JSON fields, and the WebSocket frame headers, per message. */
const MESSAGE_OVERHEAD_BYTES = 150;
/** TCP/IP headers and ACKs per payload byte (client/engine/data-cap.ts LINK_BYTES_PER_COUNTED_BYTE). */
const LINK_OVERHEAD = 1.07;

export interface WireEstimate {
  /** Bytes per example trained, each way, on the link. */
  upPerExample: number;
  downPerExample: number;
}

/** `workers`: how many train the job at once (more workers make bigger pull deltas). */
export function estimateWire(parameters: number, w: WireFacts, workers = 1): WireEstimate {
  const push = pushBytes(parameters, w.codec, w.topkRatio) + MESSAGE_OVERHEAD_BYTES;
  const full = 4 * parameters;
  let pull = full;
  if (SPARSE.has(w.codec) && w.sparseUpdates) {
    const pushesBetweenPulls = Math.max(1, workers) * Math.max(1, w.nFetch / w.nPush);
    const changed = Math.min(parameters, pushesBetweenPulls * Math.ceil(w.topkRatio * parameters));
    pull = Math.min(full, 8 * changed);
  }
  pull += MESSAGE_OVERHEAD_BYTES;
  const perBatchUp = push / w.nPush + MESSAGE_OVERHEAD_BYTES / w.nFetch; // the pull's request
  const perBatchDown = pull / w.nFetch + MESSAGE_OVERHEAD_BYTES / w.nPush + w.batchSize * w.bytesPerExampleOfData; // the push's answer
  return {
    upPerExample: (perBatchUp * LINK_OVERHEAD) / w.batchSize,
    downPerExample: (perBatchDown * LINK_OVERHEAD) / w.batchSize,
  };
}

/** MB (10⁶ bytes) per hour both ways at `examplesPerSecond`. */
export function megabytesPerHour(e: WireEstimate, examplesPerSecond: number): number {
  return ((e.upPerExample + e.downPerExample) * examplesPerSecond * 3600) / 1e6;
}
