/**
 * How a stage's DPA1 frames (shared/activation-frame.ts) reach its neighbours in the
 * replica, and theirs reach it (docs/model-parallelism.md): the coordinator's relay
 * (relay-transport.ts) or a WebRTC data channel per boundary, falling back to the relay
 * (peer-transport.ts). The StageRunner only sends and receives bytes; which way they go
 * is this interface's business.
 */
import type { StagePath } from '../../shared/replica-protocol.js';

export type FrameHandler = (from: string, frame: Uint8Array) => void;

export interface FrameTransport {
  /** Sends a frame to the neighbour `to` (a worker id); the transport may transfer its bytes, so the caller keeps no view of them. */
  send(to: string, frame: Uint8Array): void;
  /** Sends an abort frame by the coordinator's relay whatever way the other frames go, so that the coordinator sees it and dissolves the replica. Absent: `send` (the relay already). */
  sendAbort?(to: string, frame: Uint8Array): void;
  /** Where the neighbours' frames go from now on; frames that came before are handed over at once, in arrival order. */
  receive(handler: FrameHandler): void;
  /** How this stage's frames travel: 'webrtc' only when every neighbour is on a data channel. */
  path(): StagePath;
  /** Stops sending and receiving (the replica is gone); idempotent. */
  close(): void;
  /** Called at most once if the link broke under the stage (frames may be lost): the stage must leave its replica. Optional: the relay never breaks this way. */
  onFailure?(handler: (reason: string) => void): void;
}

/** Frames held until a handler is set: a neighbour may start before this stage has pulled its tensors. */
export class FrameInbox {
  private handler: FrameHandler | null = null;
  private early: { from: string; frame: Uint8Array }[] = [];
  private closed = false;

  deliver(from: string, frame: Uint8Array): void {
    if (this.closed) return;
    if (this.handler) this.handler(from, frame);
    else this.early.push({ from, frame });
  }

  receive(handler: FrameHandler): void {
    this.handler = handler;
    for (const f of this.early.splice(0)) handler(f.from, f.frame);
  }

  close(): void {
    this.closed = true;
    this.handler = null;
    this.early = [];
  }
}
