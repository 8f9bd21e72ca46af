/**
 * The relay path: frames go `relay:frame` over the worker's socket and the coordinator
 * forwards their bytes to the neighbour (server/worker/relay.ts). Listens from the
 * moment it is built, so frames that arrive while the stage still builds its layers wait.
 */
import { asBytes } from '../../shared/codec.js';
import type { RelayFrameIn, StagePath } from '../../shared/replica-protocol.js';
import type { WorkerSocket } from './connection.js';
import { FrameInbox, type FrameHandler, type FrameTransport } from './frame-transport.js';

export class RelayTransport implements FrameTransport {
  private readonly inbox = new FrameInbox();
  private readonly onFrame = (msg: RelayFrameIn) => {
    if (msg.replicaId === this.replicaId) this.inbox.deliver(msg.from, asBytes(msg.frame));
  };
  private closed = false;

  constructor(
    private readonly socket: WorkerSocket,
    private readonly replicaId: string,
  ) {
    socket.on('relay:frame', this.onFrame);
  }

  send(to: string, frame: Uint8Array): void {
    if (this.closed || !this.socket.connected) return;
    this.socket.emit('relay:frame', { replicaId: this.replicaId, to, frame });
  }

  receive(handler: FrameHandler): void {
    this.inbox.receive(handler);
  }

  path(): StagePath {
    return 'relay';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.off('relay:frame', this.onFrame);
    this.inbox.close();
  }
}
