/**
 * A socket.io-client WebSocket transport whose frames carry a zero masking key. RFC
 * 6455 has every client frame masked; ws on both ends skips the XOR when the key is
 * zero, so a load generator sending megabytes per push spends its CPU on sending, not
 * on masking, and so do the tasks receiving them. For benches on loopback only: a
 * browser never does this, and a proxy-facing client should not.
 */
import { NodeWebSocket } from 'engine.io-client';

export class ZeroMaskWebSocket extends NodeWebSocket {
  override createSocket(uri: string, protocols: string | string[] | undefined, opts: Record<string, unknown>): unknown {
    return super.createSocket(uri, protocols, { ...opts, generateMask: (mask: Uint8Array) => mask.fill(0) });
  }
}
