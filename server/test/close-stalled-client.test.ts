/**
 * A client cannot hold the coordinator's stop (server/http/close-server.ts). A raw TCP
 * client sends half a request's headers and nothing more: the request is in flight, so
 * `server.close()` alone waits for it until the headers timeout (66 s here), and a client
 * that trickles a byte now and then, for ever. The close resolves once the drain period
 * has passed on the coordinator's clock, and the connection is cut. Fails without the
 * cut: the close does not resolve within the test's time.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, expect, it, vi } from 'vitest';
import { HTTP_DRAIN_MS } from '../http/close-server.js';
import { ManualClock, startCoordinator } from '../../test-support/index.js';

let stalled: Socket | null = null;
afterEach(() => stalled?.destroy());

it('a request left half-sent is cut after the drain period on the clock, and the close resolves', { timeout: 30_000 }, async () => {
  const clock = new ManualClock();
  const run = await startCoordinator({ model: 'mlp' }, { clock });
  const { port } = new URL(run.url);
  const socket = connect(Number(port), '127.0.0.1');
  stalled = socket;
  socket.on('error', () => {});
  const cut = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('GET /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n');

  let closed = false;
  const closing = run.close().then(() => (closed = true));
  // Step the clock until the close's drain timer has been set and has fired.
  await vi.waitFor(
    () => {
      clock.advance(HTTP_DRAIN_MS);
      expect(closed).toBe(true);
    },
    { timeout: 20_000, interval: 50 },
  );
  await closing;
  await cut;
});
