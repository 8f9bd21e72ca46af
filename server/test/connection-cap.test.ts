/**
 * One address cannot hold more than the coordinator's cap of connections
 * (server/http/connection-cap.ts): raw TCP sockets that say nothing fill 127.0.0.1's
 * share; the next connection from it, raw or a socket.io worker, is answered 503
 * TOO_MANY_CONNECTIONS and closed, while the held ones stay open; a worker from another
 * address (127.0.0.2) joins, pulls and is assigned the job; once one held socket closes,
 * 127.0.0.1 connects again. With the cap at 0 there is none.
 *
 * A ps task caps its own listener the same way (workers connect to it directly): in
 * process (createPsTask), and as `npm run ps` and `npm start -- --ps N` start it, where
 * `--connections-per-address` reaches the task's process and a bad value stops it.
 */
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { connectTestWorker, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { forkPsTask } from '../../test-support/ps-process.js';
import { resolveClusterToken } from '../cluster/cluster-token.js';
import { startLocalPsTasks, type LocalPsTasks } from '../cluster/local-ps-tasks.js';

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

const portOf = (run: { url: string }) => Number(new URL(run.url).port);

/** Resolves once the server has closed `r`; fails after 5 s rather than at the test's timeout (an uncapped server keeps it). */
function closedByServer(r: Raw): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the connection over the cap was not closed within 5 s')), 5000)));
  return Promise.race([r.closed, late]).finally(() => clearTimeout(timer));
}

/** The refusal `r` received: status line and coded body. */
function refusal(r: Raw): { status: string; body: { code?: string; message?: string } } {
  const answer = r.received();
  return { status: answer.slice(0, answer.indexOf('\r\n')), body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code?: string; message?: string } };
}

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
    await closedByServer(over);
    const { status, body } = refusal(over);
    expect(status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(body).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS, message: expect.stringMatching(/connections to the coordinator/) });
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

describe('connections per address on a ps task', () => {
  const TOKEN = 'connection-cap-test-cluster-token-0123456789';
  let task: RunningPsTask | null = null;
  let local: LocalPsTasks | null = null;
  const raws: Raw[] = [];
  const workers: PsWorkerClient[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.socket.destroy();
    for (const w of workers.splice(0)) w.disconnect();
    await task?.close();
    task = null;
    await local?.close();
    local = null;
  });

  it("refuses a connection over its address's cap with a coded 503 naming the task, keeps the held ones, and admits again once one closes", async () => {
    task = await startPsTask({ token: TOKEN, connectionsPerAddress: CAP });
    for (let i = 0; i < CAP; i++) raws.push(await raw(portOf(task)));

    const over = await raw(portOf(task));
    raws.push(over);
    await closedByServer(over);
    const { status, body } = refusal(over);
    expect(status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(body).toMatchObject({ code: ErrorCode.TOO_MANY_CONNECTIONS, message: expect.stringMatching(/connections to this ps task/) });

    // The held ones are open and still served (the task answers plain HTTP with its 404).
    for (const r of raws.slice(0, CAP)) expect(r.socket.destroyed).toBe(false);
    const held = raws[1]!;
    const answered = new Promise((resolve) => held.socket.once('data', resolve));
    held.socket.write('GET / HTTP/1.1\r\nHost: task\r\n\r\n');
    await answered;
    expect(held.received()).toMatch(/^HTTP\/1\.1 404 /);

    // A worker from the same address is refused at its handshake; one from another address is served.
    await expect(connectPsWorker(task.url)).rejects.toThrow();
    const other = await connectPsWorker(task.url, '127.0.0.2');
    workers.push(other);
    expect(await other.emitWithAck('params:pull', { ticket: 'none', jobId: 'job-1' })).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });

    // One held socket closes: the address is under its cap again (the task sees the close a moment after this side).
    const first = raws[0]!;
    first.socket.end();
    await first.closed;
    let admitted: PsWorkerClient | null = null;
    for (let attempt = 0; attempt < 50 && !admitted; attempt++) admitted = await connectPsWorker(task.url).catch(() => null);
    expect(admitted).not.toBeNull();
    workers.push(admitted!);
  });

  it('has no cap at 0', async () => {
    task = await startPsTask({ token: TOKEN, connectionsPerAddress: 0 });
    for (let i = 0; i < 3 * CAP; i++) raws.push(await raw(portOf(task)));
    const w = await connectPsWorker(task.url);
    workers.push(w);
    expect(await w.emitWithAck('params:pull', { ticket: 'none', jobId: 'job-1' })).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    for (const r of raws) expect(r.socket.destroyed).toBe(false);
  });

  it('takes --connections-per-address as a coordinator forking its tasks passes it, and refuses a bad value', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-ps-cap-'));
    local = await startLocalPsTasks({ tasks: 1, dataDir, logLevel: 'warn', connectionsPerAddress: 2 });
    const port = portOf({ url: local.endpoints[0]! });
    for (let i = 0; i < 2; i++) raws.push(await raw(port));
    const over = await raw(port);
    raws.push(over);
    await closedByServer(over);
    expect(refusal(over)).toMatchObject({ status: 'HTTP/1.1 503 Service Unavailable', body: { code: ErrorCode.TOO_MANY_CONNECTIONS } });

    const token = resolveClusterToken({ dataDir });
    if (!token.ok) throw new Error(token.message);
    await expect(forkPsTask(dataDir, token.file, 0, ['--connections-per-address', 'many'])).rejects.toThrow(/exited \(1\) before it listened/);
  });
});
