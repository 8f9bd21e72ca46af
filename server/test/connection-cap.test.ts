/**
 * One address cannot hold more than the coordinator's cap of connections
 * (server/http/connection-cap.ts): raw TCP sockets that say nothing fill 127.0.0.1's
 * share; the next connection from it, raw or a socket.io worker, is answered 503
 * TOO_MANY_CONNECTIONS and closed, while the held ones stay open; a worker from another
 * address (127.0.0.2) joins, pulls and is assigned the job; once one held socket closes,
 * 127.0.0.1 connects again. With the cap at 0 there is none.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { connectTestWorker, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const CAP = 8;

interface Raw {
  socket: Socket;
  closed: Promise<void>;
  received: () => string;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {}); // a close by the server is what some of these wait for
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () => resolve({ socket, closed, received: () => Buffer.concat(chunks).toString() }));
    socket.once('error', reject);
  });
}

const portOf = (run: Running) => Number(new URL(run.url).port);

describe('connections per address', () => {
  let run: Running | null = null;
  const raws: Raw[] = [];
  const workers: TestWorker[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.socket.destroy();
    for (const w of workers.splice(0)) w.close();
    await run?.close();
    run = null;
  });

  it('refuses a connection over its address\'s cap with a coded 503, keeps the rest, and lets other addresses in', async () => {
    run = await startCoordinator({ model: 'mlp' }, { connectionsPerAddress: CAP });
    for (let i = 0; i < CAP; i++) raws.push(await raw(portOf(run)));

    const over = await raw(portOf(run));
    raws.push(over);
    await over.closed;
    const answer = over.received();
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS });
    // The cap's own socket was refused, not the ones already held.
    for (const r of raws.slice(0, CAP)) expect(r.socket.destroyed).toBe(false);

    // A worker from the same address is refused at its handshake; one from another address trains.
    await expect(connectTestWorker(run.url)).rejects.toThrow();
    const other = await connectTestWorker(run.url, '127.0.0.2');
    workers.push(other);
    const hello = await other.emitWithAck('worker:hello', { userAgent: 'connection-cap test' });
    expect(hello.ok && hello.job?.jobId).toBe(run.job.id);
    const pulled = await other.emitWithAck('params:pull', { jobId: run.job.id });
    expect(pulled.ok).toBe(true);

    // One held socket closes: the address is under its cap again. The server sees the close
    // a moment after this side does, so the first tries may still meet the cap.
    const first = raws[0]!;
    first.socket.end();
    await first.closed;
    let admitted: TestWorker | null = null;
    for (let attempt = 0; attempt < 50 && !admitted; attempt++) admitted = await connectTestWorker(run.url).catch(() => null);
    expect(admitted).not.toBeNull();
    workers.push(admitted!);
  });

  it('has no cap at 0', async () => {
    run = await startCoordinator({ model: 'mlp' }, { connectionsPerAddress: 0 });
    for (let i = 0; i < 3 * CAP; i++) raws.push(await raw(portOf(run)));
    const w = await connectTestWorker(run.url);
    workers.push(w);
    expect((await w.emitWithAck('worker:hello', { userAgent: 'connection-cap test' })).ok).toBe(true);
    expect((await w.emitWithAck('params:pull', { jobId: run.job.id })).ok).toBe(true);
    for (const r of raws) expect(r.socket.destroyed).toBe(false);
  });
});
