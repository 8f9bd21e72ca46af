/**
 * The WebRTC path (docs/model-parallelism.md, "In the browser"): one data channel per
 * boundary, opened by the page's main thread (RTCPeerConnection does not exist in a Web
 * Worker; page/peer-links.ts) and signalled over this engine's socket (peer:*). Frames
 * to a neighbour wait while its channel opens; if it is not open within openTimeoutMs
 * they go by the relay from then on. Each direction keeps the path it chose, so a
 * neighbour's frames arrive in order whichever way they come; frames are received from
 * both ways. A channel that closes after it opened breaks the stage (frames in flight
 * are lost): the engine leaves the replica.
 */
import type { PeerCandidateIn, PeerDescriptionIn, StagePath } from '../../shared/replica-protocol.js';
import type { JobAssignment } from '../../shared/protocol.js';
import type { WorkerSocket } from './connection.js';
import type { EngineToPage, PageToEngine, PeerSignal } from './engine-messages.js';
import { FrameInbox, type FrameHandler, type FrameTransport } from './frame-transport.js';
import { RelayTransport } from './relay-transport.js';

/** How long a neighbour's data channel may take to open before its frames go by the relay. */
export const PEER_OPEN_TIMEOUT_MS = 10_000;

type PeerMessage = Extract<PageToEngine, { type: 'peer-signal' | 'peer-opened' | 'peer-frame' | 'peer-closed' }>;

/** The engine's end of the page's peer connections: posts to the page, routes the page's answers to each replica's transport. */
export class PagePeers {
  private readonly transports = new Map<string, PeerTransport>();

  constructor(readonly post: (msg: EngineToPage, transfer?: Transferable[]) => void) {}

  handle(msg: PeerMessage): void {
    this.transports.get(msg.replicaId)?.fromPage(msg);
  }

  attach(t: PeerTransport): void {
    this.transports.set(t.replicaId, t);
  }

  detach(t: PeerTransport): void {
    if (this.transports.get(t.replicaId) === t) this.transports.delete(t.replicaId);
  }
}

type Way = { state: 'opening'; queue: Uint8Array[]; timer: ReturnType<typeof setTimeout> } | { state: 'webrtc' } | { state: 'relay' };

export class PeerTransport implements FrameTransport {
  readonly replicaId: string;
  private readonly relay: RelayTransport;
  private readonly inbox = new FrameInbox();
  private readonly ways = new Map<string, Way>();
  private failed: ((reason: string) => void) | null = null;
  private closed = false;
  private readonly onOffer = (m: PeerDescriptionIn) => this.signalIn(m.replicaId, m.from, { kind: 'offer', sdp: m.sdp });
  private readonly onAnswer = (m: PeerDescriptionIn) => this.signalIn(m.replicaId, m.from, { kind: 'answer', sdp: m.sdp });
  private readonly onIce = (m: PeerCandidateIn) => this.signalIn(m.replicaId, m.from, { kind: 'ice', candidate: m.candidate });

  constructor(
    private readonly socket: WorkerSocket,
    job: JobAssignment,
    private readonly page: PagePeers,
    openTimeoutMs = PEER_OPEN_TIMEOUT_MS,
  ) {
    const replica = job.replica!;
    this.replicaId = replica.replicaId;
    this.relay = new RelayTransport(socket, replica.replicaId);
    this.relay.receive((from, frame) => this.inbox.deliver(from, frame));
    page.attach(this);
    socket.on('peer:offer', this.onOffer);
    socket.on('peer:answer', this.onAnswer);
    socket.on('peer:ice', this.onIce);
    for (const [peer, initiator] of [[replica.next, true], [replica.prev, false]] as const) {
      if (!peer) continue;
      this.ways.set(peer, { state: 'opening', queue: [], timer: setTimeout(() => this.fallBack(peer), openTimeoutMs) });
      page.post({ type: 'peer-open', replicaId: this.replicaId, peer, initiator });
    }
  }

  send(to: string, frame: Uint8Array): void {
    if (this.closed) return;
    const way = this.ways.get(to);
    if (!way || way.state === 'relay') this.relay.send(to, frame);
    else if (way.state === 'opening') way.queue.push(frame);
    else this.toPage(to, frame);
  }

  sendAbort(to: string, frame: Uint8Array): void {
    if (!this.closed) this.relay.send(to, frame);
  }

  receive(handler: FrameHandler): void {
    this.inbox.receive(handler);
  }

  /** Called once if a data channel that carried frames breaks. */
  onFailure(handler: (reason: string) => void): void {
    this.failed = handler;
  }

  path(): StagePath {
    return [...this.ways.values()].every((w) => w.state === 'webrtc') && this.ways.size > 0 ? 'webrtc' : 'relay';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.ways.values()) if (w.state === 'opening') clearTimeout(w.timer);
    this.socket.off('peer:offer', this.onOffer);
    this.socket.off('peer:answer', this.onAnswer);
    this.socket.off('peer:ice', this.onIce);
    this.relay.close();
    this.inbox.close();
    this.page.detach(this);
    this.page.post({ type: 'peer-close', replicaId: this.replicaId });
  }

  fromPage(msg: PeerMessage): void {
    if (this.closed || !this.ways.has(msg.peer)) return;
    switch (msg.type) {
      case 'peer-signal': {
        const s = msg.signal;
        const to = msg.peer;
        if (s.kind === 'ice') this.socket.emit('peer:ice', { replicaId: this.replicaId, to, candidate: s.candidate });
        else this.socket.emit(s.kind === 'offer' ? 'peer:offer' : 'peer:answer', { replicaId: this.replicaId, to, sdp: s.sdp });
        return;
      }
      case 'peer-opened': {
        const way = this.ways.get(msg.peer)!;
        if (way.state !== 'opening') return; // fell back already: that direction stays on the relay
        clearTimeout(way.timer);
        this.ways.set(msg.peer, { state: 'webrtc' });
        for (const f of way.queue) this.toPage(msg.peer, f);
        return;
      }
      case 'peer-frame':
        this.inbox.deliver(msg.peer, new Uint8Array(msg.frame));
        return;
      case 'peer-closed': {
        const way = this.ways.get(msg.peer)!;
        if (way.state === 'opening') this.fallBack(msg.peer);
        else if (way.state === 'webrtc') this.failed?.(`the data channel to ${msg.peer} closed: ${msg.reason}`);
        return;
      }
      default: {
        const check: never = msg;
        throw new Error(`unknown peer message ${JSON.stringify(check)}`);
      }
    }
  }

  private signalIn(replicaId: string, from: string, signal: PeerSignal): void {
    if (this.closed || replicaId !== this.replicaId || !this.ways.has(from)) return;
    this.page.post({ type: 'peer-signal', replicaId, peer: from, signal });
  }

  private fallBack(peer: string): void {
    const way = this.ways.get(peer);
    if (!way || way.state !== 'opening') return;
    clearTimeout(way.timer);
    this.ways.set(peer, { state: 'relay' });
    for (const f of way.queue) this.relay.send(peer, f);
  }

  /** The frame's buffer is transferred to the page (no copy) when the frame is all of it. */
  private toPage(peer: string, frame: Uint8Array): void {
    const whole = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer;
    const buffer = whole ? (frame.buffer as ArrayBuffer) : frame.slice().buffer;
    this.page.post({ type: 'peer-send', replicaId: this.replicaId, peer, frame: buffer }, [buffer]);
  }
}
