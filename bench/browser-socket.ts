/**
 * What a round trip of one push and its answer costs through a socket.io connection, in
 * a Node client (the bench's stage and data-parallel workers) and in a Web Worker of a
 * headless Chromium tab (where the engine's socket lives): the same socket.io server and
 * client library, on loopback, with nothing else running. The pipeline bench's browser row
 * waits on its push's answer; this says how much of that wait is the browser's socket
 * alone, whatever the coordinator does.
 *
 * The tab runs twice: driven by Playwright (as the e2e tests and the farm drive theirs)
 * and in a Chromium with no DevTools protocol client (bench/bare-chromium.ts), as a
 * volunteer's browser is: Playwright has Chromium copy each WebSocket frame to it, the
 * difference between the two rows.
 *
 * `npm run bench -- browser-socket [--bytes 401920] [--rounds 60]`: per client and
 * direction (both ways, up only, down only), the round trip's median and 10th/90th
 * percentiles and the bytes moved per second at the median; one JSON line last:
 * {bench:"browser-socket",chromium,results:[{client,up_bytes,down_bytes,median_ms,p10_ms,p90_ms,mb_per_s}]}
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { chromium } from 'playwright-core';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { integer } from '../server/cli-args.js';
import { launchBareChromium } from './bare-chromium.js';

/** A tiny payload: the direction it goes costs next to nothing. */
const TINY = 16;
const WARM_UP_ROUNDS = 5;

interface Row {
  client: 'node' | 'chromium-worker' | 'chromium-worker-no-cdp';
  up_bytes: number;
  down_bytes: number;
  median_ms: number;
  p10_ms: number;
  p90_ms: number;
  /** Bytes both ways per second at the median round trip, MB/s. */
  mb_per_s: number;
}
type Times = { median: number; p10: number; p90: number };

/**
 * The round trips of `rounds` pushes of `up` bytes, each answered with `down` bytes, after
 * a warm-up; as source text, so the Node client and the Worker run the same loop.
 */
const ROUND_TRIPS = `async function roundTrips(socket, up, down, rounds, warmUp) {
  const times = [];
  for (let i = 0; i < warmUp + rounds; i++) {
    const t0 = performance.now();
    await new Promise((answered) => socket.emit('push', down, new Uint8Array(up), answered));
    if (i >= warmUp) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { median: at(0.5), p10: at(0.1), p90: at(0.9) };
}`;

// The Worker loads the socket.io client the server itself serves (the same package as the engine's).
const WORKER = `importScripts('/socket.io/socket.io.min.js');
${ROUND_TRIPS}
onmessage = (e) => {
  const { up, down, rounds, warmUp } = e.data;
  const socket = io({ transports: ['websocket'], forceNew: true });
  socket.on('connect', async () => { postMessage(await roundTrips(socket, up, down, rounds, warmUp)); socket.close(); });
};`;
// Started with ?job=… (no protocol client to ask it), the page measures at once and posts its figures back.
const PAGE = `<!doctype html><script>
window.measure = (job) => new Promise((resolve) => { const w = new Worker('/worker.js'); w.onmessage = (e) => { w.terminate(); resolve(e.data); }; w.postMessage(job); });
const job = new URLSearchParams(location.search).get('job');
if (job) measure(JSON.parse(job)).then((t) => fetch('/result', { method: 'POST', body: JSON.stringify(t) }));
</script>`;

const nodeRoundTrips = new Function(`${ROUND_TRIPS}; return roundTrips;`)() as (socket: unknown, up: number, down: number, rounds: number, warmUp: number) => Promise<Times>;

async function listen(): Promise<{ http: HttpServer; sockets: Server; url: string; posted: () => Promise<Times> }> {
  let post: ((t: Times) => void) | null = null;
  const http = createServer((req, res) => {
    if (req.url === '/result' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.end();
        post?.(JSON.parse(body) as Times);
      });
      return;
    }
    const worker = req.url === '/worker.js';
    res.setHeader('content-type', worker ? 'text/javascript' : 'text/html');
    res.end(worker ? WORKER : PAGE);
  });
  const sockets = new Server(http, { maxHttpBufferSize: 64 * 1024 * 1024 });
  sockets.on('connection', (s) => s.on('push', (down: number, _data: unknown, answer: (b: Uint8Array) => void) => answer(new Uint8Array(down))));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const posted = () => new Promise<Times>((resolve) => (post = resolve));
  return { http, sockets, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, posted };
}

/** The tab's figures from a Chromium with no DevTools protocol client: the page on its command line, its figures posted back. */
async function withoutProtocol(url: string, job: object, posted: () => Promise<Times>): Promise<Times> {
  const figures = posted();
  const browser = launchBareChromium(`${url}/?job=${encodeURIComponent(JSON.stringify(job))}`);
  try {
    return await Promise.race([figures, browser.exited]);
  } finally {
    await browser.close();
  }
}

function row(client: Row['client'], up: number, down: number, t: Times): Row {
  return { client, up_bytes: up, down_bytes: down, median_ms: t.median, p10_ms: t.p10, p90_ms: t.p90, mb_per_s: (up + down) / 1e6 / (t.median / 1000) };
}

export function browserSocketCommand(): Command {
  return new Command('browser-socket')
    .description("a push's round trip through socket.io on loopback: a Node client against a Web Worker in headless Chromium")
    .option('--bytes <n>', 'the large payload (default: the mlp\'s fp32 push, 401,920 B)', integer(1024, 64 * 1024 * 1024), 401_920)
    .option('--rounds <n>', 'measured round trips per row', integer(10, 10_000), 60)
    .action(async (o: { bytes: number; rounds: number }) => {
      const { http, sockets, url, posted } = await listen();
      const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
      const results: Row[] = [];
      try {
        const page = await browser.newPage();
        await page.goto(url);
        for (const [up, down] of [[o.bytes, o.bytes], [o.bytes, TINY], [TINY, o.bytes]] as const) {
          const socket = io(url, { transports: ['websocket'], forceNew: true });
          await new Promise<void>((connected) => socket.once('connect', () => connected()));
          results.push(row('node', up, down, await nodeRoundTrips(socket, up, down, o.rounds, WARM_UP_ROUNDS)));
          socket.close();
          const job = { up, down, rounds: o.rounds, warmUp: WARM_UP_ROUNDS };
          results.push(row('chromium-worker', up, down, await page.evaluate((j) => (window as unknown as { measure: (j: object) => Promise<Times> }).measure(j), job)));
          results.push(row('chromium-worker-no-cdp', up, down, await withoutProtocol(url, job, posted)));
          for (const r of results.slice(-3)) {
            process.stderr.write(`[browser-socket] ${r.client}: ${r.up_bytes} B up, ${r.down_bytes} B down: median ${r.median_ms.toFixed(1)} ms (p10 ${r.p10_ms.toFixed(1)}, p90 ${r.p90_ms.toFixed(1)}), ${r.mb_per_s.toFixed(0)} MB/s\n`);
          }
        }
        process.stdout.write(`${JSON.stringify({ bench: 'browser-socket', chromium: browser.version(), results })}\n`);
      } finally {
        await browser.close();
        sockets.close();
        http.close();
      }
    });
}
