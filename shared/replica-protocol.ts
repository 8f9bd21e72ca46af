/**
 * The wire contract of model parallelism (docs/model-parallelism.md): what a worker is
 * told of its replica and stage, and the events a replica's stages exchange through
 * the coordinator. The frames themselves are shared/activation-frame.ts's bytes.
 */
import type { ActivationCodec } from './job-spec.js';

/** A worker's place in a model replica: its stage's layers and its neighbours. */
export interface ReplicaAssignment {
  replicaId: string;
  /** This worker's stage, 0 … of − 1: stage 0 leases shards and reads inputs, the last computes the loss. */
  stage: number;
  of: number;
  /** Its layers, [from, to) of the model's layer list (an InputLayer not counted). */
  from: number;
  to: number;
  /** One example's input to the stage (the features' shape for stage 0). */
  inputShape: number[];
  /** The stage's tensors, in the job's order: what it pulls and pushes. */
  tensors: string[];
  microbatches: number;
  activationCodec: ActivationCodec;
  /**
   * The mini-batches stage 0 keeps in flight (JobSpec.pipelineDepth; 1 in a round mode):
   * a step is computed on parameters lacking at most depth − 1 of the replica's own steps
   * (client/engine/stage-exchange.ts). 1: each push waits for its own answer. The norm
   * bound clips the early transient stale steps make (the cnn's, about step 17) instead
   * of barring the lease holder (docs/byzantine.md).
   */
  depth: number;
  /** The neighbours' worker ids (null at the pipeline's ends). */
  prev: string | null;
  next: string | null;
}

/** Stage → coordinator: a frame for a neighbour in the same replica, forwarded as bytes without being decoded. */
export interface RelayFrameOut {
  replicaId: string;
  /** The neighbour's worker id. */
  to: string;
  frame: ArrayBuffer | Uint8Array;
}

/** Coordinator → stage: a neighbour's frame. */
export interface RelayFrameIn {
  replicaId: string;
  from: string;
  frame: ArrayBuffer | Uint8Array;
}

/** The replica is gone (a stage left, or sent something bad): abandon the step in flight and wait for a new job:assign. */
export interface ReplicaDissolved {
  replicaId: string;
  reason: string;
}

/**
 * WebRTC signalling between two neighbouring stages (`peer:offer`, `peer:answer`,
 * `peer:ice`), forwarded by the coordinator only within one live replica: stage k offers
 * to stage k + 1, which answers; candidates go either way.
 */
export interface PeerDescriptionOut {
  replicaId: string;
  /** The neighbour's worker id. */
  to: string;
  /** The session description's SDP text (≤ MAX_SDP_CHARS). */
  sdp: string;
}

export interface PeerDescriptionIn {
  replicaId: string;
  from: string;
  sdp: string;
}

/** An ICE candidate as RTCIceCandidateInit carries it. */
export interface PeerCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface PeerCandidateOut {
  replicaId: string;
  to: string;
  candidate: PeerCandidate;
}

export interface PeerCandidateIn {
  replicaId: string;
  from: string;
  candidate: PeerCandidate;
}

/** The longest SDP the coordinator forwards: one data channel's offer is ~0.5-2 kB. */
export const MAX_SDP_CHARS = 16 * 1024;
/** The longest candidate line it forwards. */
export const MAX_CANDIDATE_CHARS = 1024;

/** How a stage's frames reach its neighbours: a WebRTC data channel, or the coordinator's relay. */
export type StagePath = 'webrtc' | 'relay';

/** Frame bytes exchanged with each neighbour (0 where the stage has none). */
export interface NeighbourBytes {
  prev: number;
  next: number;
}

/**
 * Where a stage's wall time goes (client/engine/stage-phases.ts; docs/model-parallelism.md,
 * "Where stage 0's idle time went"). Stage 0's loop runs its phases one after another;
 * a frame's handling (decode-frame, backward at stage 0) runs beside it.
 * - lease: leasing, fetching and completing shards
 * - wait-answer: at a mini-batch's start, the answer of the push closed two before (the staleness bound)
 * - wait-pull: then the pull issued after that answer
 * - apply-pull: decoding a pull and loading it into the layers
 * - forward / backward: computing (backward: the last stage's loss and backward too)
 * - send-frame / decode-frame: encoding a frame and handing it on; checking and decoding one
 * - wait-back: waiting for the oldest mini-batch's micro-batches to come back
 * - read-gradient / encode-push: reading the step's gradient out of the backend; encoding the push
 * - wait-previous: before a push, the previous push's answer
 */
export const STAGE_PHASES = ['lease', 'wait-answer', 'wait-pull', 'apply-pull', 'forward', 'send-frame', 'wait-back', 'read-gradient', 'encode-push', 'wait-previous', 'decode-frame', 'backward'] as const;
export type StagePhase = (typeof STAGE_PHASES)[number];
/** Milliseconds per phase, cumulative. */
export type PhaseTotals = Partial<Record<StagePhase, number>>;

/**
 * Stage → coordinator (`replica:report`), every few seconds: cumulative since the stage
 * began in this replica, so a lost or late report costs nothing and the latest says it
 * all. Bytes are split by neighbour because a middle stage has two boundaries and
 * "bytes per boundary" must not mix them.
 */
export interface ReplicaReport {
  replicaId: string;
  path: StagePath;
  bytesSent: NeighbourBytes;
  bytesReceived: NeighbourBytes;
  /** Time spent on its own work (computing; encoding, decoding, reading its gradient, loading a pull; overlapping work counted once). */
  busyMs: number;
  /** Time since the stage began in this replica (busyMs ≤ wallMs). */
  wallMs: number;
  /** Examples of the forward micro-batches the stage has handled: bytes per example divide by it. */
  examples: number;
  /** Its time per phase (STAGE_PHASES), for the bench and the curious; absent from older pages. */
  phases?: PhaseTotals;
}

/** The largest frame the relay forwards (one micro-batch: 512 examples of 4096 fp32 values); below the socket's message cap. */
export const MAX_RELAY_FRAME_BYTES = 8 * 1024 * 1024;
