/**
 * The page's side of the WebRTC path (docs/model-parallelism.md, "In the browser"):
 * RTCPeerConnection exists only on a page's main thread, so the engine's Web Worker
 * asks the page to open one per neighbouring stage and the page passes frames both
 * ways by postMessage, their buffers transferred (the one copy is the chunk assembly
 * of a frame over CHUNK_BYTES). One ordered, reliable, binary data channel per
 * boundary; the stage toward the pipeline's end (the initiator) opens it and offers.
 * Sending waits for `bufferedAmount` to fall below a bound, so a fast stage cannot
 * queue unbounded memory in the channel.
 */
import { chunksOf, FrameAssembler } from '../../shared/frame-chunks.js';
import type { EngineToPage, PageToEngine, PeerSignal } from '../engine/engine-messages.js';

type PageMessage = Extract<EngineToPage, { type: 'peer-open' | 'peer-signal' | 'peer-send' | 'peer-close' }>;

/** Above this many bytes buffered in a channel, sends wait for 'bufferedamountlow'. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;

/** Whether this page can link stages by WebRTC. */
export const canLinkPeers = (): boolean => typeof RTCPeerConnection === 'function';

class PeerLink {
  readonly pc: RTCPeerConnection;
  private channel: RTCDataChannel | null = null;
  private readonly assembler = new FrameAssembler();
  /** Candidates that came before the remote description. */
  private early: RTCIceCandidateInit[] = [];
  private remoteSet = false;
  private queue: (string | Uint8Array)[] = [];
  private ended = false;

  constructor(
    private readonly replicaId: string,
    private readonly peer: string,
    initiator: boolean,
    private readonly post: (msg: PageToEngine, transfer?: Transferable[]) => void,
    iceServers: RTCIceServer[],
  ) {
    this.pc = new RTCPeerConnection({ iceServers });
    this.pc.onicecandidate = (e) => {
      if (e.candidate?.candidate) this.signal({ kind: 'ice', candidate: { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex } });
    };
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'failed') this.end('the peer connection failed');
    };
    if (initiator) {
      this.wire(this.pc.createDataChannel('frames', { ordered: true }));
      void this.offer();
    } else {
      this.pc.ondatachannel = (e) => this.wire(e.channel);
    }
  }

  async remote(signal: PeerSignal): Promise<void> {
    try {
      if (signal.kind === 'ice') {
        if (this.remoteSet) await this.pc.addIceCandidate(signal.candidate);
        else this.early.push(signal.candidate);
        return;
      }
      await this.pc.setRemoteDescription({ type: signal.kind, sdp: signal.sdp });
      this.remoteSet = true;
      if (signal.kind === 'offer') {
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.signal({ kind: 'answer', sdp: this.pc.localDescription!.sdp });
      }
      for (const c of this.early.splice(0)) await this.pc.addIceCandidate(c);
    } catch (err) {
      this.end(`signalling failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  send(frame: Uint8Array): void {
    this.queue.push(...chunksOf(frame));
    this.drain();
  }

  close(): void {
    this.ended = true;
    this.channel?.close();
    this.pc.close();
  }

  private async offer(): Promise<void> {
    try {
      await this.pc.setLocalDescription(await this.pc.createOffer());
      this.signal({ kind: 'offer', sdp: this.pc.localDescription!.sdp });
    } catch (err) {
      this.end(`could not offer: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private wire(channel: RTCDataChannel): void {
    this.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
    channel.onopen = () => this.post({ type: 'peer-opened', replicaId: this.replicaId, peer: this.peer });
    channel.onclose = () => this.end('the data channel closed');
    channel.onbufferedamountlow = () => this.drain();
    channel.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      const r = this.assembler.push(e.data);
      if (r === null) return;
      if ('ok' in r) return this.end(`${r.code}: ${r.message}`);
      // A whole message is its own buffer, and so is an assembled frame: transferred, not copied.
      const buffer = r.buffer as ArrayBuffer;
      this.post({ type: 'peer-frame', replicaId: this.replicaId, peer: this.peer, frame: buffer }, [buffer]);
    };
  }

  private drain(): void {
    const ch = this.channel;
    if (!ch || ch.readyState !== 'open') return;
    while (this.queue.length && ch.bufferedAmount < HIGH_WATER_BYTES) {
      const m = this.queue.shift()!;
      if (typeof m === 'string') ch.send(m);
      else ch.send(m as Uint8Array<ArrayBuffer>);
    }
  }

  private signal(signal: PeerSignal): void {
    if (!this.ended) this.post({ type: 'peer-signal', replicaId: this.replicaId, peer: this.peer, signal });
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.post({ type: 'peer-closed', replicaId: this.replicaId, peer: this.peer, reason });
    this.channel?.close();
    this.pc.close();
  }
}

/** The page's peer connections, one per neighbouring stage of the engine's replica. */
export class PeerLinks {
  private readonly links = new Map<string, PeerLink>();

  constructor(
    private readonly post: (msg: PageToEngine, transfer?: Transferable[]) => void,
    private readonly iceServers: RTCIceServer[] = [],
  ) {}

  handle(msg: PageMessage): void {
    const key = (peer: string) => `${msg.replicaId} ${peer}`;
    switch (msg.type) {
      case 'peer-open':
        this.links.get(key(msg.peer))?.close();
        this.links.set(key(msg.peer), new PeerLink(msg.replicaId, msg.peer, msg.initiator, this.post, this.iceServers));
        return;
      case 'peer-signal':
        void this.links.get(key(msg.peer))?.remote(msg.signal);
        return;
      case 'peer-send':
        this.links.get(key(msg.peer))?.send(new Uint8Array(msg.frame));
        return;
      case 'peer-close':
        for (const [k, link] of this.links) {
          if (!k.startsWith(msg.replicaId + ' ')) continue;
          link.close();
          this.links.delete(k);
        }
        return;
      default: {
        const check: never = msg;
        throw new Error(`unknown peer message ${JSON.stringify(check)}`);
      }
    }
  }
}
